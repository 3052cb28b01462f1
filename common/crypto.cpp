#include "common/crypto.hpp"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

namespace parley {

namespace {

struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// OpenSSL and libargon2 treat a null pointer specially in places even when the length is 0
// (HMAC: "reuse the previous key"), so empty inputs get a real address.
const unsigned char* bytes_of(std::string_view s) {
    static const unsigned char empty = 0;
    return s.empty() ? &empty : reinterpret_cast<const unsigned char*>(s.data());
}

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

using DecodeTable = std::array<std::int8_t, 256>;

constexpr DecodeTable make_decode_table(std::string_view alphabet) {
    DecodeTable table{};
    for (auto& v : table)
        v = -1;
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    }
    return table;
}

constexpr DecodeTable kBase64Table = make_decode_table(kBase64Alphabet);
constexpr DecodeTable kBase64UrlTable = make_decode_table(kBase64UrlAlphabet);

std::string encode_base64(std::string_view in, std::string_view alphabet, bool pad) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    std::size_t rest = in.size() - i;
    if (rest == 1) {
        std::uint32_t v = std::uint32_t{p[i]} << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        if (pad) out += "==";
    } else if (rest == 2) {
        std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        if (pad) out += '=';
    }
    return out;
}

// Decodes unpadded text; rejects characters outside the table and non-zero unused bits.
std::optional<std::string> decode_base64(std::string_view in, const DecodeTable& table) {
    if (in.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(in.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        std::int8_t v = table[static_cast<unsigned char>(c)];
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    // Leftover bits (2 or 4) must be zero, or two encodings would decode to the same bytes.
    if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

const EVP_MD* sha256_md() {
    return EVP_sha256();
}

// Parses "$argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<hash>" strictly; nullopt on anything else.
std::optional<PasswordHashParams> parse_argon2id(std::string_view s) {
    auto consume = [&s](std::string_view lit) {
        if (!s.starts_with(lit)) return false;
        s.remove_prefix(lit.size());
        return true;
    };
    auto number = [&s](std::uint32_t& out) {
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        if (ec != std::errc{} || end == s.data()) return false;
        s.remove_prefix(static_cast<std::size_t>(end - s.data()));
        return true;
    };
    PasswordHashParams p;
    if (!consume("$argon2id$v=19$m=") || !number(p.m_cost_kib) || !consume(",t=") ||
        !number(p.t_cost) || !consume(",p=") || !number(p.parallelism) || !consume("$")) {
        return std::nullopt;
    }
    auto sep = s.find('$');
    if (sep == std::string_view::npos) return std::nullopt;
    std::string_view salt = s.substr(0, sep);
    std::string_view hash = s.substr(sep + 1);
    // PHC strings use the standard alphabet without padding.
    if (salt.empty() || hash.empty() || !decode_base64(salt, kBase64Table) ||
        !decode_base64(hash, kBase64Table)) {
        return std::nullopt;
    }
    return p;
}

bool within_bounds(const PasswordHashParams& p) {
    return p.m_cost_kib <= kMaxPasswordMemoryKib && p.t_cost <= kMaxPasswordTimeCost &&
           p.parallelism <= kMaxPasswordParallelism;
}

PkeyPtr ed25519_private_pkey(std::string_view seed) {
    if (seed.size() != kEd25519SeedSize) {
        throw std::invalid_argument("Ed25519 private key must be a 32-byte seed");
    }
    PkeyPtr key(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytes_of(seed), seed.size()));
    if (!key) throw std::runtime_error("EVP_PKEY_new_raw_private_key(Ed25519) failed");
    return key;
}

}  // namespace

// --- randomness -------------------------------------------------------------------------------

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    std::size_t done = 0;
    while (done < n) {
        int chunk = static_cast<int>(std::min<std::size_t>(n - done, INT_MAX));
        if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + done), chunk) != 1) {
            throw std::runtime_error("RAND_bytes failed: no secure randomness available");
        }
        done += static_cast<std::size_t>(chunk);
    }
    return out;
}

std::string random_token() {
    return base64url_encode(random_bytes(32));
}

std::string random_id() {
    return base64url_encode(random_bytes(16));
}

std::string time_ordered_id() {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    return fmt::format("{:012x}", ms) + base64url_encode(random_bytes(8));
}

// --- hashing ----------------------------------------------------------------------------------

Sha256Digest sha256(std::string_view data) {
    Sha256Digest out{};
    unsigned int len = 0;
    if (EVP_Digest(bytes_of(data), data.size(), out.data(), &len, sha256_md(), nullptr) != 1 ||
        len != out.size()) {
        throw std::runtime_error("EVP_Digest(SHA-256) failed");
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    return hex_encode(sha256(data));
}

Sha256Digest hmac_sha256(std::string_view key, std::string_view message) {
    if (key.size() > static_cast<std::size_t>(INT_MAX)) {
        throw std::invalid_argument("HMAC key too long");
    }
    Sha256Digest out{};
    unsigned int len = 0;
    if (HMAC(sha256_md(), bytes_of(key), static_cast<int>(key.size()), bytes_of(message),
             message.size(), out.data(), &len) == nullptr ||
        len != out.size()) {
        throw std::runtime_error("HMAC-SHA-256 failed");
    }
    return out;
}

Sha256::Sha256() {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), sha256_md(), nullptr) != 1) {
        throw std::runtime_error("EVP_DigestInit_ex(SHA-256) failed");
    }
    ctx_ = ctx.release();
}

Sha256::Sha256(Sha256&& other) noexcept : ctx_(other.ctx_) {
    other.ctx_ = nullptr;
}

Sha256& Sha256::operator=(Sha256&& other) noexcept {
    if (this != &other) {
        EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
        ctx_ = other.ctx_;
        other.ctx_ = nullptr;
    }
    return *this;
}

Sha256::~Sha256() {
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
}

Sha256& Sha256::update(std::string_view data) {
    return update(data.data(), data.size());
}

Sha256& Sha256::update(const void* data, std::size_t size) {
    if (ctx_ == nullptr) throw std::logic_error("Sha256 used after move");
    if (size == 0) return *this;
    if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size) != 1) {
        throw std::runtime_error("EVP_DigestUpdate(SHA-256) failed");
    }
    return *this;
}

Sha256Digest Sha256::finish() {
    if (ctx_ == nullptr) throw std::logic_error("Sha256 used after move");
    auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
    Sha256Digest out{};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != out.size() ||
        EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1) {
        throw std::runtime_error("EVP_DigestFinal_ex(SHA-256) failed");
    }
    return out;
}

// --- encodings --------------------------------------------------------------------------------

std::string hex_encode(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) {
        auto b = static_cast<unsigned char>(c);
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0f];
    }
    return out;
}

std::string hex_encode(std::span<const std::uint8_t> bytes) {
    return hex_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string base64_encode(std::string_view bytes) {
    return encode_base64(bytes, kBase64Alphabet, true);
}

std::string base64url_encode(std::string_view bytes) {
    return encode_base64(bytes, kBase64UrlAlphabet, false);
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    if (text.ends_with("==")) {
        pad = 2;
    } else if (text.ends_with('=')) {
        pad = 1;
    }
    // Any '=' left in the body is rejected by the decode table.
    return decode_base64(text.substr(0, text.size() - pad), kBase64Table);
}

std::optional<std::string> base64url_decode(std::string_view text) {
    return decode_base64(text, kBase64UrlTable);
}

// --- comparison -------------------------------------------------------------------------------

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        // Still touch every byte of `a` so the time depends on lengths only.
        (void)CRYPTO_memcmp(bytes_of(a), bytes_of(a), a.size());
        return false;
    }
    return CRYPTO_memcmp(bytes_of(a), bytes_of(b), a.size()) == 0;
}

// --- passwords --------------------------------------------------------------------------------

std::string hash_password(std::string_view password, const PasswordHashParams& params) {
    constexpr std::size_t kSaltLen = 16;
    constexpr std::size_t kHashLen = 32;
    if (!within_bounds(params)) {
        throw std::invalid_argument("argon2id parameters exceed Parley's verification bounds");
    }
    if (password.size() > ARGON2_MAX_PWD_LENGTH) throw std::invalid_argument("password too long");
    std::string salt = random_bytes(kSaltLen);
    std::string encoded(argon2_encodedlen(params.t_cost, params.m_cost_kib, params.parallelism,
                                          kSaltLen, kHashLen, Argon2_id),
                        '\0');
    int rc = argon2id_hash_encoded(params.t_cost, params.m_cost_kib, params.parallelism,
                                   bytes_of(password), password.size(), salt.data(), salt.size(),
                                   kHashLen, encoded.data(), encoded.size());
    if (rc != ARGON2_OK) {
        std::string what = std::string("argon2id: ") + argon2_error_message(rc);
        if (rc == ARGON2_MEMORY_ALLOCATION_ERROR || rc == ARGON2_THREAD_FAIL) {
            throw std::runtime_error(what);
        }
        throw std::invalid_argument(what);
    }
    encoded.resize(encoded.find('\0'));  // argon2_encodedlen counts the terminator
    return encoded;
}

bool verify_password(std::string_view password, std::string_view encoded) noexcept {
    try {
        // An embedded NUL would make libargon2 see only a prefix of the stored string.
        if (encoded.find('\0') != std::string_view::npos) return false;
        auto params = parse_argon2id(encoded);
        if (!params || !within_bounds(*params)) return false;
        if (password.size() > ARGON2_MAX_PWD_LENGTH) return false;
        std::string stored(encoded);
        return argon2id_verify(stored.c_str(), bytes_of(password), password.size()) == ARGON2_OK;
    } catch (...) {
        return false;  // only std::bad_alloc can get here
    }
}

bool password_needs_rehash(std::string_view encoded, const PasswordHashParams& params) {
    auto current = parse_argon2id(encoded);
    return !current || current->t_cost != params.t_cost ||
           current->m_cost_kib != params.m_cost_kib || current->parallelism != params.parallelism;
}

// --- Ed25519 ----------------------------------------------------------------------------------

bool ed25519_verify(std::string_view public_key, std::string_view message,
                    std::string_view signature) noexcept {
    if (public_key.size() != kEd25519PublicKeySize || signature.size() != kEd25519SignatureSize) {
        return false;
    }
    PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes_of(public_key),
                                            public_key.size()));
    if (!key) return false;
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) return false;
    // Ed25519 hashes internally (PureEdDSA), so no digest is named.
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
    return EVP_DigestVerify(ctx.get(), bytes_of(signature), signature.size(), bytes_of(message),
                            message.size()) == 1;
}

std::string ed25519_sign(std::string_view private_key_seed, std::string_view message) {
    PkeyPtr key = ed25519_private_pkey(private_key_seed);
    MdCtxPtr ctx(EVP_MD_CTX_new());
    std::string sig(kEd25519SignatureSize, '\0');
    std::size_t len = sig.size();
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       bytes_of(message), message.size()) != 1 ||
        len != kEd25519SignatureSize) {
        throw std::runtime_error("Ed25519 signing failed");
    }
    return sig;
}

std::string ed25519_public_key(std::string_view private_key_seed) {
    PkeyPtr key = ed25519_private_pkey(private_key_seed);
    std::string pub(kEd25519PublicKeySize, '\0');
    std::size_t len = pub.size();
    if (EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(pub.data()),
                                    &len) != 1 ||
        len != kEd25519PublicKeySize) {
        throw std::runtime_error("EVP_PKEY_get_raw_public_key(Ed25519) failed");
    }
    return pub;
}

Ed25519KeyPair generate_ed25519() {
    Ed25519KeyPair pair;
    pair.private_key = random_bytes(kEd25519SeedSize);
    pair.public_key = ed25519_public_key(pair.private_key);
    return pair;
}

}  // namespace parley
