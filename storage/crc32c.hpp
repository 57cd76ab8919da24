// dmon::crc32c: the Castagnoli CRC of the index log's records, with the CPU's crc32 instruction.
#pragma once

#include <cstdint>
#include <string_view>

namespace dmon {

/// Extends `crc` (0 to start) over `bytes`: CRC-32C (iSCSI, polynomial 0x1EDC6F41), as
/// RocksDB and ext4 use, so `crc32c(0, "123456789") == 0xE3069283`. Uses SSE4.2's `crc32`
/// instruction when the CPU has it (about 8 bytes per cycle), else a table.
uint32_t crc32c(uint32_t crc, std::string_view bytes);

/// The table version alone, for tests to compare with.
uint32_t crc32c_portable(uint32_t crc, std::string_view bytes);

}  // namespace dmon
