// The image path of `parley imageproc`: one request in, one fitted JPEG and one thumbnail out.
//
// Order matters for safety: the file is sniffed (JPEG, PNG, WebP and GIF only; anything else
// is refused before a decoder sees it), then only its header is read and the pixel count
// checked against the request's limit, so a decompression bomb is refused before decoding.
// The image is then decoded once with shrink-on-load (libvips thumbnail), turned upright by
// its EXIF orientation, flattened onto white, converted to 8-bit sRGB (or grey), held in
// memory, encoded as JPEG without any metadata, and the thumbnail is derived from that reduced
// image rather than from the file. Both outputs are written to the paths given and fsynced;
// nothing else is touched. libvips must be initialised (init_image_pipeline) before use.
// Thread-safe: several requests may run at once.
#pragma once

#include "common/imageproc_protocol.hpp"

namespace parley {

// VIPS_INIT plus the process-wide settings: no operation cache, `vips_threads` worker threads
// per image (0: libvips' default), untrusted loaders blocked. Returns false on failure.
bool init_image_pipeline(const char* argv0, int vips_threads);

ImageResponse process_image(const ImageRequest& request);

}  // namespace parley
