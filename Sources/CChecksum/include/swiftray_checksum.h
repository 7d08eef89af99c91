// CRC-32C (Castagnoli) with the CPU's crc32 instruction when it has one (SSE 4.2),
// a table otherwise: the checksum of object chunks and spilled files.
#ifndef SWIFTRAY_CHECKSUM_H
#define SWIFTRAY_CHECKSUM_H
#include <stddef.h>
#include <stdint.h>

/// Continues `crc` (start with 0) over `length` bytes at `data`.
uint32_t swiftray_crc32c(uint32_t crc, const void *data, size_t length);

#endif
