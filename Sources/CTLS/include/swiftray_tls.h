// TLS 1.3 for SwiftRay's TCP links, on OpenSSL: a context per process (the cluster CA,
// this process's certificate and key, mutual verification), a session per connection
// over two memory pipes (the event loop moves the ciphertext; nothing here touches a
// socket), a session on a blocking socket for the CLI's control client, and the
// certificates `swiftray cert` makes. Opaque pointers only: Swift never sees OpenSSL's types.

#ifndef SWIFTRAY_TLS_H
#define SWIFTRAY_TLS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A context for one role (server: accepts; client: connects), or NULL with `error` filled.
void *swiftray_tls_context(const char *ca_path, const char *cert_path, const char *key_path, int server,
                           char *error, size_t error_size);
void swiftray_tls_context_free(void *context);

/// A session over memory pipes (server or client as its context is).
void *swiftray_tls_session(void *context, int server);
void swiftray_tls_session_free(void *session);
/// Runs the handshake as far as the bytes lent allow: 1 done, 0 needs more, -1 failed.
int swiftray_tls_handshake(void *session);
/// Ciphertext from the peer, lent (not copied) until `swiftray_tls_end_lend`, which keeps a copy
/// of what the reads in between left unconsumed (0, or -1 out of memory).
void swiftray_tls_lend(void *session, const void *bytes, size_t count);
int swiftray_tls_end_lend(void *session);
/// Plaintext read: > 0 bytes, 0 none yet, -1 the peer closed or the stream is corrupt.
long swiftray_tls_read(void *session, void *buffer, size_t capacity);
/// Encrypts plaintext (all of it, or -1).
long swiftray_tls_write(void *session, const void *bytes, size_t count);
/// The ciphertext waiting to be sent, in place (valid until the session next writes), and
/// dropping the first `count` bytes of it once sent.
const void *swiftray_tls_out(void *session, size_t *length);
void swiftray_tls_out_consume(void *session, size_t count);
/// The session's channel binding (RFC 9266, `tls-exporter`: 32 bytes exported under the label
/// "EXPORTER-Channel-Binding"), the same on both ends of one TLS connection and different on any
/// other: 0 when written to `out`, -1 before the handshake finished.
int swiftray_tls_channel_binding(void *session, unsigned char *out, size_t length);
/// The last error of this thread, as text (OpenSSL's queue, or the verification result).
void swiftray_tls_last_error(void *session, char *buffer, size_t size);

/// A client session on a connected blocking socket (handshake done), or NULL with `error`.
void *swiftray_tls_connect_fd(void *context, int fd, char *error, size_t error_size);
/// Plaintext read from the socket: > 0 bytes, 0 the peer closed, -1 failed or timed out. (Writes: `swiftray_tls_write`.)
long swiftray_tls_fd_read(void *session, void *buffer, size_t capacity);

/// Makes a CA (`ca.pem`, `ca.key`) in `ca_directory` if `make_ca`, then a certificate signed by
/// the CA there (`node.pem`, `node.key`, common name `name`) in `out_directory`. Keys are written
/// with mode 0600. 0, or -1 with `error`.
int swiftray_tls_make_certificates(const char *ca_directory, const char *out_directory, const char *name,
                                   int make_ca, int valid_days, char *error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif
