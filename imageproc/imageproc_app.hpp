// `parley imageproc`: the image child process. Requests arrive on stdin, answers leave on
// stdout; it ends when stdin closes or on SIGTERM.
#pragma once

#include "imageproc/imageproc_config.hpp"

namespace parley {

int run_imageproc(const ImageprocConfig& config);

}  // namespace parley
