// pspf-reseal SEGMENT POS: rewrites the checksum and header check of the batch at byte
// POS of SEGMENT, after a CLI test edited its bytes, so that the edit reaches the
// checks behind the checksums (STYLE: rewrite CRCs to reach the deeper checks).
// Exits 0 when done, 2 on a usage error, 1 when the file cannot be read or written
// or no batch header fits at POS. A test helper: never installed.
#include <fcntl.h>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "pspf/batch.h"
#include "pspf/error.h"
#include "pspf/file.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: pspf-reseal SEGMENT POS\n");
    return 2;
  }
  try {
    std::string path = argv[1];
    uint64_t pos = std::stoull(argv[2]);
    std::string bytes = pspf::read_small_file(path);
    if (pos + pspf::kBatchHeaderSize > bytes.size())
      throw std::runtime_error("no batch header at POS");
    char* p = bytes.data() + pos;
    pspf::BatchHeader h = pspf::decode_batch_header(p);
    if (h.length < pspf::kBatchHeaderSize || pos + h.length > bytes.size())
      throw std::runtime_error("the batch length reaches past the file");
    h.checksum = pspf::batch_checksum(p, h.length);
    pspf::encode_batch_header(h, p);
    h.header_check = pspf::header_checksum(p);
    pspf::encode_batch_header(h, p);
    pspf::Fd fd = pspf::open_file(path, O_WRONLY);
    pspf::pwrite_all(fd.get(), bytes.data(), bytes.size(), 0, path);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pspf-reseal: %s\n", e.what());
    return 1;
  }
}
