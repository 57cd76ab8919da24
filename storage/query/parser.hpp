// The query parser: recursive descent over lexer tokens, producing the AST of ast.hpp.
#pragma once

#include <memory>
#include <string_view>

#include "error.hpp"
#include "query/ast.hpp"

namespace dmon::query {

/// Deepest nesting of parentheses and `not` the parser accepts; deeper input
/// is refused rather than risking the stack. Long and/or chains are flat and
/// do not count.
inline constexpr size_t max_nesting = 256;

/// Parses `text` into an AST with regexes compiled and LIKE patterns split.
/// Returns a bad_query error that names the column, what was expected and
/// what was found.
result<std::shared_ptr<const node>> parse_ast(std::string_view text);

}  // namespace dmon::query
