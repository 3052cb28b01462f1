// Security primitives every Parley mode uses: CSPRNG bytes, tokens and ids, SHA-256 (one-shot
// and streaming), HMAC-SHA-256, constant-time comparison, strict base64/base64url, argon2id
// password hashing (libargon2) and Ed25519 signatures (OpenSSL 3 EVP). Byte strings are carried
// in std::string / std::string_view (binary, not text). Every free function is thread-safe (no
// shared state; OpenSSL 3 is thread-safe by default); a Sha256 object is not, use one per thread.
// Errors: random_bytes and hash_password throw when the system cannot produce a secure result
// (never a weak fallback); verification and decoding functions never throw on hostile input,
// they return false / nullopt. Nothing here logs, so no secret can leak through logs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace parley {

using Sha256Digest = std::array<std::uint8_t, 32>;

inline constexpr std::size_t kEd25519PublicKeySize = 32;
inline constexpr std::size_t kEd25519SeedSize = 32;
inline constexpr std::size_t kEd25519SignatureSize = 64;

// --- randomness -------------------------------------------------------------------------------

// n bytes from OpenSSL's CSPRNG (RAND_bytes); throws std::runtime_error if it fails.
std::string random_bytes(std::size_t n);

// 256 random bits as base64url without padding (43 chars): session, bot and API tokens.
std::string random_token();

// 128 random bits as base64url without padding (22 chars): opaque, URL-safe ids.
std::string random_id();
// A client message id that sorts by creation time: the Unix time in milliseconds as 12 hex
// digits, then 8 random bytes (base64url). A sender's ids then land next to each other in
// the server's resend index instead of on a random page each.
std::string time_ordered_id();

// --- hashing ----------------------------------------------------------------------------------

Sha256Digest sha256(std::string_view data);
std::string sha256_hex(std::string_view data);  // lowercase hex, 64 chars

// HMAC-SHA-256 (RFC 2104); an empty key is allowed.
Sha256Digest hmac_sha256(std::string_view key, std::string_view message);

// Streaming SHA-256 for files and network streams. finish() returns the digest and resets the
// object, so it can hash the next input.
class Sha256 {
  public:
    Sha256();
    Sha256(Sha256&& other) noexcept;
    Sha256& operator=(Sha256&& other) noexcept;
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    ~Sha256();

    Sha256& update(std::string_view data);
    Sha256& update(const void* data, std::size_t size);
    Sha256Digest finish();

  private:
    void* ctx_ = nullptr;  // EVP_MD_CTX*, kept opaque so OpenSSL headers stay out of ours
};

// --- encodings --------------------------------------------------------------------------------

std::string hex_encode(std::string_view bytes);  // lowercase
std::string hex_encode(std::span<const std::uint8_t> bytes);

// RFC 4648 §4, with '=' padding.
std::string base64_encode(std::string_view bytes);
// RFC 4648 §5 (URL- and filename-safe alphabet), without padding.
std::string base64url_encode(std::string_view bytes);

// Strict decoders: nullopt on any character outside the alphabet (including whitespace), a
// wrong length, misplaced or missing padding (base64), any padding (base64url), or non-zero
// unused bits, so every value has exactly one accepted encoding.
std::optional<std::string> base64_decode(std::string_view text);
std::optional<std::string> base64url_decode(std::string_view text);

// --- comparison -------------------------------------------------------------------------------

// Compares secrets (tokens, API keys, MACs) in time that depends only on the lengths, never on
// where the contents differ (CRYPTO_memcmp). Different lengths return false.
bool constant_time_equal(std::string_view a, std::string_view b);

// --- passwords (argon2id) ---------------------------------------------------------------------

// Defaults are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane).
struct PasswordHashParams {
    std::uint32_t t_cost = 2;
    std::uint32_t m_cost_kib = 19456;
    std::uint32_t parallelism = 1;
};

// Upper bounds on the costs we hash with and agree to verify.
inline constexpr std::uint32_t kMaxPasswordMemoryKib = 1024 * 1024;  // 1 GiB
inline constexpr std::uint32_t kMaxPasswordTimeCost = 64;
inline constexpr std::uint32_t kMaxPasswordParallelism = 64;

// Returns the PHC string "$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>" with a fresh random
// 16-byte salt and a 32-byte hash. Throws std::invalid_argument for parameters libargon2
// rejects or that exceed the bounds above and std::runtime_error when hashing fails (e.g. out of
// memory).
std::string hash_password(std::string_view password, const PasswordHashParams& params = {});

// True only when `encoded` is a well-formed argon2id (v=19) PHC string and `password` matches it.
// Never throws: a malformed, truncated or non-argon2id stored hash, or one whose costs exceed
// the bounds above (so a corrupt row cannot make a login allocate gigabytes), returns false.
// Callers should still run a verification against a dummy hash for unknown accounts, so that
// response time does not reveal which accounts exist.
bool verify_password(std::string_view password, std::string_view encoded) noexcept;

// True when `encoded` is not an argon2id hash with exactly `params` (rehash it on next login).
bool password_needs_rehash(std::string_view encoded, const PasswordHashParams& params = {});

// --- Ed25519 ----------------------------------------------------------------------------------

struct Ed25519KeyPair {
    std::string public_key;   // 32 bytes
    std::string private_key;  // 32-byte seed (RFC 8032 "secret key")
};

// False for a key or signature of the wrong length, an invalid key, or a bad signature.
bool ed25519_verify(std::string_view public_key, std::string_view message,
                    std::string_view signature) noexcept;

// For bots and tests. Throws std::invalid_argument when the seed is not 32 bytes and
// std::runtime_error when OpenSSL fails.
Ed25519KeyPair generate_ed25519();
std::string ed25519_sign(std::string_view private_key_seed, std::string_view message);
std::string ed25519_public_key(std::string_view private_key_seed);

}  // namespace parley
