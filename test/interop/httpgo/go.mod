module skiff.test/httppeer

go 1.19
