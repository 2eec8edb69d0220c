// The parts of the system's OpenSSL 3 libcrypto Deputy uses: RS256 signing of tokens, which
// OpenSSL does about twice as fast as the BoringSSL inside swift-crypto on these machines.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
