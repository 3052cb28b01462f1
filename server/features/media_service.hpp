// MediaService: the life of an uploaded image, from the spooled request body to the stored,
// content-addressed JPEG and thumbnail and the `media` event on the owner's sockets.
//
// accept() takes the upload the HTTP layer streamed to data/media/tmp/, checks and reserves
// the owner's quota (MediaStore::create), fsyncs the upload and moves it to
// data/media/uploads/<content id> (kept until processing ends, so a restart resumes it), and
// queues it for the image child (ImageprocClient). When the child answers, each output is
// hashed (SHA-256), renamed to data/media/<first two hex digits>/<sha256>.jpg and its
// directory fsynced (the child fsynced the file itself), the record becomes `ready` or
// `failed`, and every socket of the owner gets {"type":"media","content_id",...}.
// Who may see a content id: its owner; when it is its owner's avatar, whoever may see the
// owner's profile (a private profile: people who share a room with its owner); and the members
// of every room with a message that carries it. Everyone else is told not_found, as for a
// content id that does not exist. The other calls (listing, reading a file, deleting) answer
// Outcomes (server/features/outcome.hpp).
// An upload that cannot be kept (a full disk, a failed fsync) is refused and leaves no record
// and no file. File work runs on the `files` pool, never on network threads, and goes through
// a FileSystem (common/file_system.hpp). Owned by the server app;
// thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/file_system.hpp"
#include "server/data/account_store.hpp"
#include "server/data/db_readers.hpp"
#include "server/data/media_store.hpp"
#include "server/features/client_registry.hpp"
#include "server/features/outcome.hpp"
#include "server/media/imageproc_client.hpp"
#include "server/settings/server_config.hpp"

namespace parley {

// What deleting a record removed.
struct MediaRemoval {
    bool removed = false;          // false: a concurrent deletion got there first
    std::int64_t freed_bytes = 0;  // no longer counted against the owner's quota
    int files_removed = 0;         // stored files no other record named
};

// One page of an owner's images, newest first.
struct MediaPage {
    std::vector<MediaRecord> items;
    std::optional<MediaPosition> next;  // where the next page starts; none after the last
    std::int64_t usage_bytes = 0;
};

// A deletion and the owner's usage after it.
struct MediaDeletion {
    std::int64_t freed_bytes = 0;
    std::int64_t usage_bytes = 0;
};

// The public view of a record: GET /api/v1/media/{id}/info and the `media` event.
nlohmann::json media_json(const MediaRecord& m);

class MediaService {
  public:
    MediaService(const MediaSettings& settings, const std::string& data_dir, MediaStore& store,
                 AccountStore& accounts, DbReaderPool& readers, ImageprocClient& imageproc,
                 ClientRegistry& clients, net::thread_pool& files, net::any_io_executor executor,
                 FileSystem& file_system = real_file_system());

    // Creates the media directories and empties tmp/ (bodies of interrupted uploads). Start-up.
    void prepare();
    // Queues again every record still `processing` (a restart interrupted it); start-up.
    void resume();

    std::int64_t quota_bytes() const { return settings_.quota_bytes; }
    // Where the HTTP layer streams upload bodies.
    const std::string& spool_dir() const { return tmp_dir_; }
    // The stored file of a SHA-256 (lowercase hex).
    std::string file_path(const std::string& sha256) const;

    // The new record (processing), or why the upload is refused (empty body, queue full,
    // quota, storage).
    awaitable<Outcome<MediaRecord>> accept(std::string account_id, std::string spool_path);

    // The record of `content_id` when `viewer` may see it; else not_found.
    awaitable<Outcome<MediaRecord>> visible(const std::string& viewer,
                                            const std::string& content_id);
    // A page of `owner`'s images (`limit` 1 to 200) after `after`.
    Outcome<MediaPage> page(const std::string& owner, const std::optional<MediaPosition>& after,
                            int limit) const;
    // The bytes of a stored file (a ready record's image or thumbnail SHA-256), read on the
    // files pool.
    awaitable<Outcome<std::string>> read_stored(const std::string& content_id,
                                                const std::string& sha256);
    // Deletes `viewer`'s own image: not while it is processing or is the owner's avatar;
    // forbidden for someone else's image the viewer may see, not_found for any other.
    awaitable<Outcome<MediaDeletion>> delete_own(const std::string& viewer,
                                                 const std::string& content_id);

    // Deletes a record that is not processing (the caller checked who asks), then each of its
    // stored files that no record names any more, and tells the owner's sockets
    // {"type":"media","content_id","state":"deleted"}. A file that a finishing upload has just
    // stored for the same content is kept (see pinned_).
    awaitable<DbResult<MediaRemoval>> remove(MediaRecord record);

  private:
    // A file operation that failed: what was done, and the system's reason.
    struct FileProblem {
        std::string what;  // empty: no problem
        std::error_code ec;
        explicit operator bool() const { return !what.empty(); }
        std::string text() const { return what + ": " + ec.message(); }
    };
    // fsyncs the spooled body, moves it to `target` in uploads/ and fsyncs that directory, on
    // the files pool; on failure nothing of it is left in uploads/.
    awaitable<FileProblem> keep_upload(std::string spool_path, std::string target);
    // Drops the record of an upload that could not be kept and answers why: a full disk is
    // insufficient_storage, any other failure internal.
    awaitable<Outcome<MediaRecord>> refuse_unkept(MediaRecord m, FileProblem problem);
    // Whether `viewer` may see `m` (see above): the one place media looks at chat membership.
    awaitable<DbResult<bool>> may_see(const std::string& viewer, const MediaRecord& m);
    // Removes the stored files of `shas` that no record names and no upload has pinned; the
    // number removed. Runs on the files pool.
    int remove_unnamed(const std::vector<std::string>& shas);
    // Removes stored files that no record names: left by a crash between deleting a record
    // and its files. Start-up, before any upload is processed.
    void sweep_unnamed();
    // `bounded`: subject to media.queue_limit (new uploads), or not (work resumed at start).
    void submit(const MediaRecord& record, bool bounded);
    awaitable<void> finish(std::string content_id, ImageResponse response);
    void notify(const MediaRecord& record);
    std::string upload_path(const std::string& id) const;
    std::string output_path(const std::string& id, const char* suffix) const;

    const MediaSettings& settings_;
    std::string media_dir_;  // absolute
    std::string tmp_dir_;
    std::string uploads_dir_;
    MediaStore& store_;
    AccountStore& accounts_;
    DbReaderPool& readers_;
    ImageprocClient& imageproc_;
    ClientRegistry& clients_;
    net::thread_pool& files_;
    FileSystem& file_system_;  // every file written, renamed or removed (tests inject faults)
    net::any_io_executor executor_;
    // Guards the stored files: storing one and pinning its hash, and checking a hash unnamed
    // and unlinking its file, are each done whole under it. A hash stays pinned from the
    // moment finish() stores (or finds) its file until the record naming it is saved, so a
    // deletion in between cannot remove a file a record is about to name.
    std::mutex files_mutex_;
    std::unordered_multiset<std::string> pinned_;
    struct PinRelease;
};

}  // namespace parley
