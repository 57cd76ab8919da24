// The query lexer: turns query text into tokens following Riemann's query.g4 lexer rules.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace dmon::query {

/// Token kinds. Keywords and operators win ties against field names, as in
/// ANTLR, but a longer field name wins: `metric>2` is one name.
enum class token_kind : uint8_t {
  lparen,
  rparen,
  kw_not,
  kw_and,
  kw_or,
  kw_tagged,
  kw_true,
  kw_false,
  kw_nil,
  op_eq,
  op_ne,
  op_lt,
  op_gt,
  op_le,
  op_ge,
  op_like,
  op_regex,
  string,
  long_int,
  big_int,
  floating,
  name,
  end,
};

/// Returns a short description for error messages, e.g. "'and'" or "a string".
const char* describe(token_kind kind);

/// One token. `text` points into the lexed query; decoded values sit in the
/// member that matches the kind.
struct token {
  token_kind kind = token_kind::end;
  /// Byte offset of the first character in the query.
  size_t offset = 0;
  /// The source text of the token.
  std::string_view text;
  /// Decoded contents of a string, or the name of a field.
  std::string str;
  /// Value of a long (and of a big integer that fits in 64 bits).
  int64_t integer = 0;
  /// Value of a float; the nearest double of a big integer.
  double real = 0;
  /// Canonical digits of a big integer beyond 64 bits; empty when it fits
  /// in `integer`.
  std::string big_digits;
};

/// Returns the 1-based column (in UTF-8 code points) of byte `offset` in `text`.
size_t column_of(std::string_view text, size_t offset);

/// Returns a bad_query error "parse error at column N: <what> in '<text>'".
error make_parse_error(std::string_view text, size_t offset, std::string_view what);

/// Splits `text` into tokens, ending with one `token_kind::end`. Returns a
/// bad_query error for characters no rule accepts, unterminated strings, bad
/// escapes, out-of-range longs, and lexemes the grammar knows but queries
/// cannot use (hex numbers, character literals).
result<std::vector<token>> lex(std::string_view text);

}  // namespace dmon::query
