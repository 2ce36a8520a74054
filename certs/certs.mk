# certs/: workload identity and TLS contexts, all through OpenSSL 3.
LDLIBS += -lssl -lcrypto
