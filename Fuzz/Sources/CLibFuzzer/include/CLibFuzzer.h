#ifndef DEPUTY_FUZZ_CLIBFUZZER_H
#define DEPUTY_FUZZ_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (https://llvm.org/docs/LibFuzzer.html#using-libfuzzer-as-a-library): parses
/// the command line like libFuzzer's own `main` and fuzzes `callback`. The fuzz targets call it
/// from their `@main`, because SwiftPM names a debug executable's entry point `<Target>_main`,
/// which libFuzzer's `main` would not provide.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
