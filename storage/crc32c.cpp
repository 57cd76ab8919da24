// CRC-32C with the SSE4.2 crc32 instruction where the CPU has it, else a byte table.
#include "crc32c.hpp"

#include <array>
#include <cstring>

namespace dmon {

namespace {

constexpr uint32_t reflected_poly = 0x82F63B78;

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ reflected_poly : c >> 1;
    t[i] = c;
  }
  return t;
}

constexpr auto table = make_table();

#if defined(__x86_64__)
// Compiled for SSE4.2 whatever the build's target, called only after the CPU said it has it.
__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, std::string_view bytes) {
  uint64_t c = ~crc;
  auto* p = bytes.data();
  size_t n = bytes.size();
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
  }
  auto c32 = static_cast<uint32_t>(c);
  for (; n > 0; --n, ++p)
    c32 = __builtin_ia32_crc32qi(c32, static_cast<uint8_t>(*p));
  return ~c32;
}

// Asked once, before main: __builtin_cpu_init first, as a constructor must.
const bool have_sse42 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
}();
#endif

}  // namespace

uint32_t crc32c_portable(uint32_t crc, std::string_view bytes) {
  uint32_t c = ~crc;
  for (unsigned char b : bytes)
    c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return ~c;
}

uint32_t crc32c(uint32_t crc, std::string_view bytes) {
#if defined(__x86_64__)
  if (have_sse42)
    return crc32c_hw(crc, bytes);
#endif
  return crc32c_portable(crc, bytes);
}

}  // namespace dmon
