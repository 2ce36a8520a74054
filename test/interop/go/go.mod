module skiff.test/interop

go 1.19
