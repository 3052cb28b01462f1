// Durable file writes: every file Parley writes goes through write_file_atomic(), which writes
// a temp file in the same directory, fsyncs it, renames it over the target and fsyncs the
// directory, so a crash leaves either the old file or the new one, never a torn one.
// Thread-safe (no shared state); blocking: call off the network threads for large files.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace parley {

std::error_code write_file_atomic(const std::string& path, std::string_view content,
                                  int mode = 0600);

// fsyncs a directory so that a rename or create in it is durable.
std::error_code fsync_directory(const std::string& dir);

// Reads a whole file; returns an error code when it cannot.
std::error_code read_file(const std::string& path, std::string& out);

// Whether the file named by config key `key` can be opened for reading; if not, `error` says
// so with the path and the system's reason. A library's own error about the same file (OpenSSL's
// "no start line") says little about a wrong path, so configured files are checked first.
bool readable(const std::string& path, const char* key, std::string& error);

}  // namespace parley
