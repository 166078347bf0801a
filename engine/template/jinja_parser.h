// Parser of the Jinja subset into a syntax tree (jinja2's grammar and operator precedence).
#pragma once

#include <string_view>

#include "engine/template/jinja_ast.h"
#include "engine/template/jinja_lexer.h"

namespace gb::jinja {

// Throws gb::Error "template:LINE:COL: ..." naming what was expected.
Body parse_template(std::string_view src, const LexOptions& opt = {});

}  // namespace gb::jinja
