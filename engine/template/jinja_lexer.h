// Lexer of the Jinja subset: splits a template into text and tag tokens, applying whitespace
// control ({%- -%}, {{- -}}) and HF's trim_blocks/lstrip_blocks, and tokenizes expressions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gb::jinja {

struct Token {
    enum class Type {
        Text,
        VarBegin,
        VarEnd,
        BlockBegin,
        BlockEnd,
        Name,
        String,
        Int,
        Float,
        Op,
        Eof
    };
    Type type;
    std::string text;  // text, name, operator or decoded string literal
    int64_t int_value = 0;
    double float_value = 0;
    int line = 1, col = 1;
};

struct LexOptions {
    bool trim_blocks = true;
    bool lstrip_blocks = true;
};

// Throws gb::Error "template:LINE:COL: ..." on unterminated tags, strings or bad characters.
std::vector<Token> lex(std::string_view src, const LexOptions& opt = {});

}  // namespace gb::jinja
