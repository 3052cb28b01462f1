#include "common/crypto.hpp"

#include <argon2.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace parley;

namespace {

std::string unhex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    }
    return out;
}

bool only_base64url_chars(std::string_view s) {
    for (char c : s) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

// Cheap enough for a unit test; libargon2's minimum memory is 8 KiB per lane.
const PasswordHashParams kFastParams{1, 64, 1};

// RFC 8032 §7.1, TEST 1 and TEST 2.
const std::string kRfc8032Seed1 =
    unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
const std::string kRfc8032Pub1 =
    unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
const std::string kRfc8032Sig1 = unhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
    "b46bd25bf5f0595bbe24655141438e7a100b");
const std::string kRfc8032Pub2 =
    unhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
const std::string kRfc8032Msg2 = unhex("72");
const std::string kRfc8032Sig2 = unhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
    "1d8c387b2eaeb4302aeeb00d291612bb0c00");

}  // namespace

TEST_CASE("random_bytes returns the requested length and differs between calls", "[crypto]") {
    CHECK(random_bytes(0).empty());
    CHECK(random_bytes(1).size() == 1);
    CHECK(random_bytes(1000).size() == 1000);
    CHECK(random_bytes(32) != random_bytes(32));
}

TEST_CASE("random_token is 256 bits of url-safe base64 and unique", "[crypto]") {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        std::string token = random_token();
        REQUIRE(token.size() == 43);
        REQUIRE(only_base64url_chars(token));
        auto raw = base64url_decode(token);
        REQUIRE(raw);
        REQUIRE(raw->size() == 32);
        seen.insert(token);
    }
    CHECK(seen.size() == 1000);
}

TEST_CASE("random_id is 128 bits of url-safe base64 and unique", "[crypto]") {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        std::string id = random_id();
        REQUIRE(id.size() == 22);
        REQUIRE(only_base64url_chars(id));
        REQUIRE(base64url_decode(id)->size() == 16);
        seen.insert(id);
    }
    CHECK(seen.size() == 1000);
}

TEST_CASE("time_ordered_id sorts by creation time and stays unique", "[crypto]") {
    std::vector<std::string> ids;
    for (int i = 0; i < 200; ++i) {
        ids.push_back(time_ordered_id());
        if (i == 100) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    for (const auto& id : ids) {
        REQUIRE(id.size() == 12 + 11);
        REQUIRE(only_base64url_chars(id));
    }
    // Ids from a later millisecond sort after every earlier one.
    CHECK(ids[0].substr(0, 12) < ids[150].substr(0, 12));
    CHECK(ids[0] < ids[150]);
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());
}

TEST_CASE("sha256 known answers (FIPS 180-2)", "[crypto]") {
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    auto digest = sha256("abc");
    CHECK(digest[0] == 0xba);
    CHECK(digest[31] == 0xad);
}

TEST_CASE("Sha256 streams, resets after finish, and matches the one-shot digest", "[crypto]") {
    Sha256 h;
    std::string chunk(1000, 'a');
    for (int i = 0; i < 1000; ++i)
        h.update(chunk);
    CHECK(hex_encode(h.finish()) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    // After finish() the object hashes a fresh input.
    h.update("a").update("b").update(nullptr, 0).update("c");
    CHECK(h.finish() == sha256("abc"));
    CHECK(h.finish() == sha256(""));

    std::string data = random_bytes(4097);
    for (std::size_t split : {std::size_t{0}, std::size_t{1}, std::size_t{63}, std::size_t{64},
                              std::size_t{4096}, data.size()}) {
        Sha256 s;
        s.update(std::string_view(data).substr(0, split));
        s.update(data.data() + split, data.size() - split);
        CHECK(s.finish() == sha256(data));
    }

    Sha256 moved = std::move(h);
    moved.update("abc");
    CHECK(moved.finish() == sha256("abc"));
    CHECK_THROWS_AS(h.update("x"), std::logic_error);  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("hmac_sha256 known answers (RFC 4231)", "[crypto]") {
    CHECK(hex_encode(hmac_sha256(std::string(20, '\x0b'), "Hi There")) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK(hex_encode(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(hex_encode(hmac_sha256("", "")) ==
          "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("hex_encode", "[crypto]") {
    CHECK(hex_encode(std::string_view("")) == "");
    CHECK(hex_encode(std::string_view("\x00\x01\x7f\x80\xff", 5)) == "00017f80ff");
}

TEST_CASE("base64 RFC 4648 test vectors", "[crypto]") {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (auto [plain, encoded] : vectors) {
        CAPTURE(plain);
        CHECK(base64_encode(plain) == encoded);
        CHECK(base64_decode(encoded) == std::optional<std::string>(plain));
        std::string url(encoded);
        url.erase(url.find_last_not_of('=') + 1);
        CHECK(base64url_encode(plain) == url);
        CHECK(base64url_decode(url) == std::optional<std::string>(plain));
    }
}

TEST_CASE("base64 and base64url use their own alphabets", "[crypto]") {
    std::string bytes = unhex("fbefff");
    CHECK(base64_encode(bytes) == "++//");
    CHECK(base64url_encode(bytes) == "--__");
    CHECK(base64_decode("++//") == bytes);
    CHECK(base64url_decode("--__") == bytes);
    CHECK_FALSE(base64_decode("--__"));
    CHECK_FALSE(base64url_decode("++//"));
}

TEST_CASE("base64 decoders reject invalid input", "[crypto]") {
    for (const char* bad :
         {"Zg", "Zg=", "A===", "AAAAA===", "Z===", "====", "=Zg=", "Zg==Zg==", "Zm9v====", "Zh==",
          "Zm9=", "Zm9v\n", "Zm 9v", "Zm9v YmFy", "Zm*v", "Zm9v\r\n"}) {
        CAPTURE(bad);
        CHECK_FALSE(base64_decode(bad));
    }
    CHECK_FALSE(base64_decode(std::string_view("Zm\0v", 4)));
    for (const char* bad : {"Z", "A", "AAAAA", "Zg==", "Zg=", "Zh", "Zm9", "Zm9v=", "Zm+v", "Zm/v",
                            "Zm9v\n", "Zm9vY", "a b"}) {
        CAPTURE(bad);
        CHECK_FALSE(base64url_decode(bad));
    }
}

TEST_CASE("base64 round-trips every byte at every length", "[crypto]") {
    for (std::size_t n = 0; n <= 70; ++n) {
        std::string bytes = random_bytes(n);
        CAPTURE(n);
        CHECK(base64_decode(base64_encode(bytes)) == bytes);
        CHECK(base64url_decode(base64url_encode(bytes)) == bytes);
        CHECK(base64_encode(bytes).size() == (n + 2) / 3 * 4);
    }
    std::string all;
    for (int c = 0; c < 256; ++c)
        all += static_cast<char>(c);
    CHECK(base64_decode(base64_encode(all)) == all);
    CHECK(base64url_decode(base64url_encode(all)) == all);
}

TEST_CASE("constant_time_equal", "[crypto]") {
    CHECK(constant_time_equal("", ""));
    CHECK(constant_time_equal("secret-token", "secret-token"));
    CHECK_FALSE(constant_time_equal("secret-token", "Secret-token"));
    CHECK_FALSE(constant_time_equal("secret-token", "secret-tokeN"));
    CHECK_FALSE(constant_time_equal("secret-token", "secret-toke"));
    CHECK_FALSE(constant_time_equal("secret-toke", "secret-token"));
    CHECK_FALSE(constant_time_equal("", "x"));
    CHECK_FALSE(constant_time_equal("x", ""));
    CHECK(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
    CHECK_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
    std::string token = random_token();
    std::string copy = token;
    CHECK(constant_time_equal(token, copy));
    copy[42] ^= 1;
    CHECK_FALSE(constant_time_equal(token, copy));
}

TEST_CASE("argon2id hash round trip", "[crypto]") {
    std::string encoded = hash_password("correct horse battery staple", kFastParams);
    CHECK(encoded.rfind("$argon2id$v=19$m=64,t=1,p=1$", 0) == 0);
    CHECK(encoded.find('\0') == std::string::npos);
    CHECK(verify_password("correct horse battery staple", encoded));
    CHECK_FALSE(verify_password("correct horse battery stapl", encoded));
    CHECK_FALSE(verify_password("Correct horse battery staple", encoded));
    CHECK_FALSE(verify_password("", encoded));

    // A fresh salt each time: same password, different strings, both verify.
    std::string again = hash_password("correct horse battery staple", kFastParams);
    CHECK(again != encoded);
    CHECK(verify_password("correct horse battery staple", again));

    std::string empty = hash_password("", kFastParams);
    CHECK(verify_password("", empty));
    CHECK_FALSE(verify_password(" ", empty));

    std::string with_nul("pa\0ss", 5);
    std::string nul_hash = hash_password(with_nul, kFastParams);
    CHECK(verify_password(with_nul, nul_hash));
    CHECK_FALSE(verify_password("pa", nul_hash));
}

TEST_CASE("argon2id default parameters are OWASP's minimum", "[crypto]") {
    PasswordHashParams defaults;
    CHECK(defaults.t_cost == 2);
    CHECK(defaults.m_cost_kib == 19456);
    CHECK(defaults.parallelism == 1);
    std::string encoded = hash_password("pw");
    CHECK(encoded.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0) == 0);
    CHECK(verify_password("pw", encoded));
    CHECK_FALSE(password_needs_rehash(encoded));
    CHECK(password_needs_rehash(encoded, kFastParams));
}

TEST_CASE("verify_password returns false for malformed stored hashes", "[crypto]") {
    std::string good = hash_password("pw", kFastParams);
    REQUIRE(verify_password("pw", good));

    std::string argon2i = good;
    argon2i.replace(0, 9, "$argon2i$");
    std::string flipped = good;
    flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
    std::string big_memory = good;
    big_memory.replace(good.find("m=64"), 4, "m=4294967295");
    std::string over_bound = good;
    over_bound.replace(good.find("m=64"), 4, "m=2000000");
    std::string v16 = good;
    v16.replace(good.find("v=19"), 4, "v=16");
    std::string no_salt =
        good.substr(0, good.find("p=1$") + 4) + "$" + good.substr(good.rfind('$') + 1);

    for (const std::string& bad :
         {std::string(), std::string("garbage"), std::string("$argon2id$"),
          good.substr(0, good.size() - 10), good.substr(0, good.rfind('$')), good + "$", good + "=",
          argon2i, flipped, big_memory, over_bound, v16, no_salt,
          std::string("$argon2id$v=19$m=-64,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
          std::string("$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaA"),
          std::string("$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"),
          good + std::string(1, '\0') + "junk"}) {
        CAPTURE(bad);
        CHECK_FALSE(verify_password("pw", bad));
    }
    for (const std::string& other : {std::string(), std::string("garbage"), argon2i, v16,
                                     big_memory, good.substr(0, good.rfind('$'))}) {
        CAPTURE(other);
        CHECK(password_needs_rehash(other, kFastParams));
    }
    // An embedded NUL must not make libargon2 accept the prefix before it.
    CHECK_FALSE(verify_password("pw", good + std::string(1, '\0')));
    CHECK_FALSE(password_needs_rehash(good, kFastParams));
}

TEST_CASE("verify_password refuses stored hashes whose costs exceed the bounds", "[crypto]") {
    // Real argon2id hashes, made with libargon2 directly since hash_password refuses these
    // parameters; each is cheap to compute, so only the bounds check can reject it.
    auto encode = [](std::uint32_t t, std::uint32_t m, std::uint32_t p) {
        const std::string salt = "0123456789abcdef";
        std::string out(argon2_encodedlen(t, m, p, 16, 32, Argon2_id), '\0');
        REQUIRE(argon2id_hash_encoded(t, m, p, "pw", 2, salt.data(), salt.size(), 32, out.data(),
                                      out.size()) == ARGON2_OK);
        out.resize(out.find('\0'));
        REQUIRE(argon2id_verify(out.c_str(), "pw", 2) == ARGON2_OK);
        return out;
    };
    CHECK(verify_password("pw", encode(kMaxPasswordTimeCost, 64, 1)));
    CHECK_FALSE(verify_password("pw", encode(kMaxPasswordTimeCost + 1, 64, 1)));
    CHECK(verify_password("pw", encode(1, 8 * kMaxPasswordParallelism, kMaxPasswordParallelism)));
    CHECK_FALSE(verify_password(
        "pw", encode(1, 8 * (kMaxPasswordParallelism + 1), kMaxPasswordParallelism + 1)));
}

TEST_CASE("hash_password rejects parameters it could not verify", "[crypto]") {
    CHECK_THROWS_AS((hash_password("pw", PasswordHashParams{1, 1, 1})), std::invalid_argument);
    CHECK_THROWS_AS((hash_password("pw", PasswordHashParams{0, 64, 1})), std::invalid_argument);
    CHECK_THROWS_AS((hash_password("pw", PasswordHashParams{1, 64, 0})), std::invalid_argument);
    CHECK_THROWS_AS((hash_password("pw", PasswordHashParams{1, kMaxPasswordMemoryKib + 1, 1})),
                    std::invalid_argument);
    CHECK_THROWS_AS((hash_password("pw", PasswordHashParams{kMaxPasswordTimeCost + 1, 64, 1})),
                    std::invalid_argument);
}

TEST_CASE("ed25519 RFC 8032 test vectors", "[crypto]") {
    CHECK(ed25519_verify(kRfc8032Pub1, "", kRfc8032Sig1));
    CHECK(ed25519_verify(kRfc8032Pub2, kRfc8032Msg2, kRfc8032Sig2));
    // Ed25519 is deterministic: signing TEST 1 reproduces the published signature.
    CHECK(ed25519_public_key(kRfc8032Seed1) == kRfc8032Pub1);
    CHECK(ed25519_sign(kRfc8032Seed1, "") == kRfc8032Sig1);

    CHECK_FALSE(ed25519_verify(kRfc8032Pub1, "x", kRfc8032Sig1));
    CHECK_FALSE(ed25519_verify(kRfc8032Pub2, "", kRfc8032Sig1));
    CHECK_FALSE(ed25519_verify(kRfc8032Pub1, kRfc8032Msg2, kRfc8032Sig2));
    std::string sig = kRfc8032Sig2;
    sig[10] ^= 0x01;
    CHECK_FALSE(ed25519_verify(kRfc8032Pub2, kRfc8032Msg2, sig));
    std::string pub = kRfc8032Pub2;
    pub[0] ^= 0x01;
    CHECK_FALSE(ed25519_verify(pub, kRfc8032Msg2, kRfc8032Sig2));
}

TEST_CASE("ed25519 rejects wrong lengths cleanly", "[crypto]") {
    CHECK_FALSE(ed25519_verify(kRfc8032Pub1.substr(0, 31), "", kRfc8032Sig1));
    CHECK_FALSE(ed25519_verify(kRfc8032Pub1 + "x", "", kRfc8032Sig1));
    CHECK_FALSE(ed25519_verify(kRfc8032Pub1, "", kRfc8032Sig1.substr(0, 63)));
    CHECK_FALSE(ed25519_verify(kRfc8032Pub1, "", kRfc8032Sig1 + "x"));
    CHECK_FALSE(ed25519_verify("", "", ""));
    CHECK_FALSE(ed25519_verify(std::string(32, '\0'), "", std::string(64, '\0')));
    CHECK_FALSE(ed25519_verify(std::string(32, '\xff'), "", std::string(64, '\xff')));
    CHECK_THROWS_AS(ed25519_sign(kRfc8032Seed1.substr(0, 31), "m"), std::invalid_argument);
    CHECK_THROWS_AS(ed25519_sign(kRfc8032Seed1 + "x", "m"), std::invalid_argument);
    CHECK_THROWS_AS(ed25519_public_key(""), std::invalid_argument);
}

TEST_CASE("ed25519 generated keys sign and verify", "[crypto]") {
    Ed25519KeyPair a = generate_ed25519();
    Ed25519KeyPair b = generate_ed25519();
    REQUIRE(a.public_key.size() == kEd25519PublicKeySize);
    REQUIRE(a.private_key.size() == kEd25519SeedSize);
    CHECK(a.public_key != b.public_key);
    CHECK(ed25519_public_key(a.private_key) == a.public_key);

    std::string message = "bot login challenge " + random_token();
    std::string sig = ed25519_sign(a.private_key, message);
    REQUIRE(sig.size() == kEd25519SignatureSize);
    CHECK(ed25519_verify(a.public_key, message, sig));
    CHECK_FALSE(ed25519_verify(b.public_key, message, sig));
    CHECK_FALSE(ed25519_verify(a.public_key, message + ".", sig));
}
