// CRC-32C: the crc32 instruction (SSE 4.2, 8 bytes a step) when the CPU has it, else a
// byte-at-a-time table. Same convention as RayStorage's CRC32C: inverted in and out.
#include "swiftray_checksum.h"
#include <string.h>

static uint32_t table[256];
static int tableReady = 0;

static uint32_t crc32cTable(uint32_t crc, const uint8_t *bytes, size_t length) {
    if (!tableReady) {
        for (uint32_t index = 0; index < 256; index++) {
            uint32_t value = index;
            for (int bit = 0; bit < 8; bit++) value = (value & 1) ? (value >> 1) ^ 0x82F63B78u : value >> 1;
            table[index] = value;
        }
        tableReady = 1;
    }
    uint32_t value = ~crc;
    for (size_t index = 0; index < length; index++) value = table[(value ^ bytes[index]) & 0xFF] ^ (value >> 8);
    return ~value;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t crc32cInstruction(uint32_t crc, const uint8_t *bytes, size_t length) {
    uint64_t value = (uint32_t)~crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        value = _mm_crc32_u64(value, word);
        bytes += 8;
        length -= 8;
    }
    uint32_t rest = (uint32_t)value;
    while (length > 0) {
        rest = _mm_crc32_u8(rest, *bytes++);
        length--;
    }
    return ~rest;
}
#endif

uint32_t swiftray_crc32c(uint32_t crc, const void *data, size_t length) {
    if (length == 0) return crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return crc32cInstruction(crc, (const uint8_t *)data, length);
#endif
    return crc32cTable(crc, (const uint8_t *)data, length);
}
