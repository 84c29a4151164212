// SPDX-License-Identifier: GPL-2.0-only
#include "common/text.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

using namespace std::string_literals;
using namespace std::string_view_literals;
using nfsleuth::bounded_cstr;
using nfsleuth::escape_for_terminal;
using nfsleuth::join_args;
using nfsleuth::path_basename;
using nfsleuth::split_args;
using Args = std::vector<std::string>;

// --- bounded_cstr -----------------------------------------------------------

TEST(BoundedCstr, StopsAtFirstNul) {
    const char comm[8] = {'b', 'a', 's', 'h', '\0', 'x', 'y', 'z'};
    EXPECT_EQ(bounded_cstr(comm, sizeof comm), "bash");
}

TEST(BoundedCstr, NoNulWithinCapacityYieldsWholeArray) {
    const char comm[4] = {'a', 'b', 'c', 'd'};
    std::string_view v = bounded_cstr(comm, sizeof comm);
    EXPECT_EQ(v.size(), 4u);
    EXPECT_EQ(v, "abcd");
    EXPECT_EQ(v.data(), comm);
}

TEST(BoundedCstr, NulAtZeroIsEmpty) {
    const char comm[4] = {'\0', 'a', 'b', 'c'};
    EXPECT_TRUE(bounded_cstr(comm, sizeof comm).empty());
}

TEST(BoundedCstr, ZeroCapacityIsEmpty) {
    const char comm[1] = {'a'};
    EXPECT_TRUE(bounded_cstr(comm, 0).empty());
}

// --- split_args / join_args -------------------------------------------------

TEST(SplitArgs, TrailingNulDoesNotAddAnEmptyArgument) {
    EXPECT_EQ(split_args("/sbin/modprobe\0-q\0--\0iptable_nat\0"sv),
              (Args{"/sbin/modprobe", "-q", "--", "iptable_nat"}));
}

TEST(SplitArgs, EmptyBlockHasNoArguments) {
    EXPECT_TRUE(split_args(""sv).empty());
}

TEST(SplitArgs, EmbeddedEmptyArgumentsAreKept) {
    EXPECT_EQ(split_args("a\0\0b\0"sv), (Args{"a", "", "b"}));
    EXPECT_EQ(split_args("\0"sv), (Args{""}));
    EXPECT_EQ(split_args("a\0\0"sv), (Args{"a", ""}));
}

TEST(SplitArgs, MissingTrailingNulKeepsTruncatedLastArgument) {
    EXPECT_EQ(split_args("iptables\0-t\0na"sv), (Args{"iptables", "-t", "na"}));
    EXPECT_EQ(split_args("single"sv), (Args{"single"}));
}

TEST(JoinArgs, JoinsWithSingleSpaces) {
    EXPECT_EQ(join_args({}), "");
    EXPECT_EQ(join_args({"iptables"}), "iptables");
    EXPECT_EQ(join_args({"iptables", "-t", "nat", "-L"}), "iptables -t nat -L");
}

TEST(JoinArgs, EmptyArgumentsStayVisibleAsDoubleSpace) {
    EXPECT_EQ(join_args({"a", "", "b"}), "a  b");
}

TEST(JoinArgs, RoundTripsWithSplitArgs) {
    EXPECT_EQ(join_args(split_args("/sbin/modprobe\0-q\0--\0net-pf-10\0"sv)), "/sbin/modprobe -q -- net-pf-10");
}

// --- path_basename ----------------------------------------------------------

TEST(PathBasename, StripsDirectories) {
    EXPECT_EQ(path_basename("/sbin/modprobe"), "modprobe");
    EXPECT_EQ(path_basename("usr/bin/kmod"), "kmod");
    EXPECT_EQ(path_basename("modprobe"), "modprobe");
    EXPECT_EQ(path_basename("/"), "");
    EXPECT_EQ(path_basename("/usr/sbin/"), "");
    EXPECT_EQ(path_basename(""), "");
}

// --- escape_for_terminal ----------------------------------------------------

TEST(EscapeForTerminal, PrintableAsciiPassesUnchanged) {
    const std::string s = "iptables -t nat -A POSTROUTING -j MASQUERADE ~!@#$%^&*()_+{}|:<>?`-=[];',./";
    EXPECT_EQ(escape_for_terminal(s), s);
    EXPECT_EQ(escape_for_terminal(""), "");
}

TEST(EscapeForTerminal, EscapeSequencesAreNeutralised) {
    EXPECT_EQ(escape_for_terminal("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
    // An OSC sequence that would set the terminal title, terminated by BEL.
    EXPECT_EQ(escape_for_terminal("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
}

TEST(EscapeForTerminal, NewlineTabAndCarriageReturnUseShortEscapes) {
    EXPECT_EQ(escape_for_terminal("a\nb\tc\rd"), "a\\nb\\tc\\rd");
}

TEST(EscapeForTerminal, NulAndOtherC0BytesUseHexEscapes) {
    EXPECT_EQ(escape_for_terminal("a\0b"sv), "a\\x00b");
    EXPECT_EQ(escape_for_terminal("\x01\x08\x0b\x0c\x1f"), "\\x01\\x08\\x0b\\x0c\\x1f");
}

TEST(EscapeForTerminal, DelIsEscaped) {
    EXPECT_EQ(escape_for_terminal("x\x7fy"), "x\\x7fy");
}

TEST(EscapeForTerminal, C1ControlsEncodedAsUtf8AreEscaped) {
    // U+009B is the single-character CSI some terminals honour.
    EXPECT_EQ(escape_for_terminal("\xc2\x9b"
                                  "31m"),
              "\\xc2\\x9b31m");
    EXPECT_EQ(escape_for_terminal("\xc2\x80"), "\\xc2\\x80");  // U+0080, first C1
    EXPECT_EQ(escape_for_terminal("\xc2\x85"), "\\xc2\\x85");  // NEL
    EXPECT_EQ(escape_for_terminal("\xc2\x9f"), "\\xc2\\x9f");  // U+009F, last C1
}

TEST(EscapeForTerminal, FirstCodePointAfterC1Passes) {
    EXPECT_EQ(escape_for_terminal("\xc2\xa0"), "\xc2\xa0");  // U+00A0 no-break space
}

TEST(EscapeForTerminal, ValidMultibyteUtf8PassesUnchanged) {
    const std::string e_acute = "caf\xc3\xa9";                 // "café"
    const std::string nihon = "\xe6\x97\xa5\xe6\x9c\xac";      // 日本
    const std::string emoji = "\xf0\x9f\x98\x80";              // U+1F600
    const std::string max_cp = "\xf4\x8f\xbf\xbf";             // U+10FFFF
    EXPECT_EQ(escape_for_terminal(e_acute), e_acute);
    EXPECT_EQ(escape_for_terminal(nihon), nihon);
    EXPECT_EQ(escape_for_terminal(emoji), emoji);
    EXPECT_EQ(escape_for_terminal(max_cp), max_cp);
    EXPECT_EQ(escape_for_terminal(e_acute + " " + nihon + emoji), e_acute + " " + nihon + emoji);
}

TEST(EscapeForTerminal, LoneInvalidBytesAreEscaped) {
    EXPECT_EQ(escape_for_terminal("\xff"), "\\xff");
    EXPECT_EQ(escape_for_terminal("\xfe"), "\\xfe");
    EXPECT_EQ(escape_for_terminal("a\x80z"), "a\\x80z");  // stray continuation byte
}

TEST(EscapeForTerminal, TruncatedSequenceIsEscapedBytewise) {
    EXPECT_EQ(escape_for_terminal("\xe6\x97"), "\\xe6\\x97");
    // The sequence is interrupted by ASCII: the ASCII survives.
    EXPECT_EQ(escape_for_terminal("\xe6\x97x"), "\\xe6\\x97x");
    // A truncated sequence followed by a valid one.
    EXPECT_EQ(escape_for_terminal("\xe6\x97\xe6\x97\xa5"), "\\xe6\\x97\xe6\x97\xa5");
}

TEST(EscapeForTerminal, OverlongEncodingsAreEscaped) {
    EXPECT_EQ(escape_for_terminal("\xc0\xaf"), "\\xc0\\xaf");              // '/' in two bytes
    EXPECT_EQ(escape_for_terminal("\xc1\xbf"), "\\xc1\\xbf");
    EXPECT_EQ(escape_for_terminal("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");     // '/' in three bytes
    EXPECT_EQ(escape_for_terminal("\xf0\x8f\xbf\xbf"), "\\xf0\\x8f\\xbf\\xbf");  // U+FFFF in four bytes
}

TEST(EscapeForTerminal, SurrogatesAndOutOfRangeCodePointsAreEscaped) {
    EXPECT_EQ(escape_for_terminal("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // U+D800
    EXPECT_EQ(escape_for_terminal("\xed\xbf\xbf"), "\\xed\\xbf\\xbf");  // U+DFFF
    EXPECT_EQ(escape_for_terminal("\xed\x9f\xbf"), "\xed\x9f\xbf");     // U+D7FF is fine
    EXPECT_EQ(escape_for_terminal("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // U+110000
}

TEST(EscapeForTerminal, BackslashAndDoubleQuoteAreEscaped) {
    EXPECT_EQ(escape_for_terminal("\\"), "\\\\");
    EXPECT_EQ(escape_for_terminal("\""), "\\\"");
    EXPECT_EQ(escape_for_terminal("say \"\\x1b\""), "say \\\"\\\\x1b\\\"");
}

TEST(EscapeForTerminal, EscapedLiteralCannotBeConfusedWithEscapedByte) {
    // The text "\x1b" and the byte 0x1b must not produce the same output.
    EXPECT_NE(escape_for_terminal("\\x1b"), escape_for_terminal("\x1b"));
}

TEST(EscapeForTerminal, EverySingleByte) {
    for (int b = 0; b < 256; ++b) {
        const std::string in(1, static_cast<char>(b));
        const std::string out = escape_for_terminal(in);
        char hex[5];
        std::snprintf(hex, sizeof hex, "\\x%02x", b);
        if (b == '\\' || b == '"') {
            EXPECT_EQ(out, "\\" + in) << b;
        } else if (b == '\n') {
            EXPECT_EQ(out, "\\n");
        } else if (b == '\t') {
            EXPECT_EQ(out, "\\t");
        } else if (b == '\r') {
            EXPECT_EQ(out, "\\r");
        } else if (b >= 0x20 && b < 0x7f) {
            EXPECT_EQ(out, in) << b;
        } else {
            EXPECT_EQ(out, hex) << b;  // C0, DEL, and any byte >= 0x80 alone
        }
    }
}

TEST(EscapeForTerminal, OutputNeverContainsControlBytes) {
    std::string hostile;
    for (int b = 0; b < 256; ++b) hostile += static_cast<char>(b);
    hostile += "\xc2\x9b\xe2\x80\x8b\xed\xa0\x80";
    const std::string out = escape_for_terminal(hostile);
    for (char ch : out) {
        const auto c = static_cast<unsigned char>(ch);
        EXPECT_FALSE(c < 0x20 || c == 0x7f) << "raw control byte " << int(c);
    }
}

TEST(EscapeForTerminal, HundredKilobytesOfPrintableText) {
    const std::string big(100 * 1024, 'A');
    const std::string out = escape_for_terminal(big);
    EXPECT_EQ(out.size(), big.size());
    EXPECT_EQ(out, big);
}

TEST(EscapeForTerminal, HundredKilobytesOfHostileBytes) {
    const std::string pattern = "\x1b\xff\xc3\xa9\n\"";  // 6 bytes
    ASSERT_EQ(pattern.size(), 6u);
    std::string big;
    while (big.size() < 100 * 1024) big += pattern;
    big.resize(100 * 1024);  // 17066 whole patterns, then "\x1b\xff\xc3\xa9"
    ASSERT_EQ(big.size() % pattern.size(), 4u);
    // Per pattern: "\x1b"(4) + "\xff"(4) + "é"(2) + "\n"(2) + "\""(2) = 14 bytes.
    const std::string out = escape_for_terminal(big);
    EXPECT_EQ(out.size(), 17066u * 14 + 4 + 4 + 2);
    EXPECT_EQ(out.substr(0, 14), "\\x1b\\xff\xc3\xa9\\n\\\"");
    EXPECT_EQ(out.substr(out.size() - 10), "\\x1b\\xff\xc3\xa9");
}

TEST(EscapeForTerminal, InvisibleAndBidiCharactersAreEscaped) {
    // U+202E RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE, U+2028 LINE SEPARATOR, U+FEFF BOM
    EXPECT_EQ(escape_for_terminal("a\xe2\x80\xae" "b"), "a\\xe2\\x80\\xaeb");
    EXPECT_EQ(escape_for_terminal("\xe2\x80\x8b"), "\\xe2\\x80\\x8b");
    EXPECT_EQ(escape_for_terminal("\xe2\x80\xa8"), "\\xe2\\x80\\xa8");
    EXPECT_EQ(escape_for_terminal("\xef\xbb\xbf"), "\\xef\\xbb\\xbf");
    // Neighbours that are ordinary punctuation stay: U+2010 HYPHEN, U+2030 PER MILLE
    EXPECT_EQ(escape_for_terminal("\xe2\x80\x90\xe2\x80\xb0"), "\xe2\x80\x90\xe2\x80\xb0");
}
