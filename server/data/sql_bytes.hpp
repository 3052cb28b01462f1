// Optional byte strings (token hashes, keys, signatures) in SQLite: an empty std::string is
// stored as NULL and NULL reads back as empty. Shared by the stores in server/data.
#pragma once

#include <string>

#include "common/db/sqlite.hpp"

namespace parley {

inline std::string column_bytes(const Statement& st, int col) {
    if (st.column_is_null(col)) return {};
    auto view = st.column_blob_view(col);
    return std::string(reinterpret_cast<const char*>(view.data()), view.size());
}

inline void bind_bytes_or_null(Statement& st, int index, const std::string& bytes) {
    if (bytes.empty()) {
        st.bind_null(index);
    } else {
        st.bind_blob(index, bytes.data(), bytes.size());
    }
}

}  // namespace parley
