// The declaration of libFuzzer's driver is in include/CLibFuzzer.h; libFuzzer itself is linked by
// `-sanitize=fuzzer`. SwiftPM needs one source file in a C target.
#include "CLibFuzzer.h"
