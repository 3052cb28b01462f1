// UTF-8 checks shared by every layer that takes text from a peer (message texts, titles, names,
// WebSocket text frames): validity and length in code points. Plain functions, thread-safe.
#pragma once

#include <string_view>

namespace parley {

// Unicode code points in `text`, or -1 when it is not valid UTF-8 (overlong forms, surrogates
// and values past U+10FFFF included).
long utf8_code_points(std::string_view text);

}  // namespace parley
