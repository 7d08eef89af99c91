// TLS 1.3 on OpenSSL for SwiftRay's TCP links (see include/swiftray_tls.h).

#include "swiftray_tls.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static void put_error(char *error, size_t size, const char *what) {
    if (!error || size == 0) return;
    unsigned long code = ERR_get_error();
    if (code) {
        char detail[256];
        ERR_error_string_n(code, detail, sizeof detail);
        snprintf(error, size, "%s: %s", what, detail);
    } else {
        snprintf(error, size, "%s", what);
    }
    ERR_clear_error();
}

void *swiftray_tls_context(const char *ca_path, const char *cert_path, const char *key_path, int server,
                           char *error, size_t error_size) {
    ERR_clear_error();
    SSL_CTX *context = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!context) {
        put_error(error, error_size, "cannot make a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(context, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(context, 0);
    // AES-128-GCM first: the fastest with the CPU's AES instructions (AES-256 and ChaCha20 allowed).
    SSL_CTX_set_ciphersuites(context, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
    char what[1200];
    if (SSL_CTX_load_verify_locations(context, ca_path, NULL) != 1) {
        snprintf(what, sizeof what, "cannot read the cluster CA %s", ca_path);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(context, cert_path) != 1) {
        snprintf(what, sizeof what, "cannot read the certificate %s", cert_path);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(context, key_path, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof what, "cannot read the key %s", key_path);
        goto fail;
    }
    if (SSL_CTX_check_private_key(context) != 1) {
        snprintf(what, sizeof what, "the key %s does not match the certificate %s", key_path, cert_path);
        goto fail;
    }
    // Mutual: each side proves it holds a certificate the cluster CA signed.
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return context;
fail:
    put_error(error, error_size, what);
    SSL_CTX_free(context);
    return NULL;
}

void swiftray_tls_context_free(void *context) { SSL_CTX_free((SSL_CTX *)context); }

// MARK: The memory pipe between a session and the event loop
//
// One per direction. OpenSSL's own memory BIO zeroes the room it grows into on every write and
// is read out by copying; this one appends without zeroing, lets the loop write the ciphertext
// to the socket straight from it (`swiftray_tls_out`), and reads ciphertext the loop lends
// it in place (`swiftray_tls_lend`), keeping a copy only of what a read leaves unconsumed.

typedef struct {
    unsigned char *data;
    size_t start, length, capacity;
    const unsigned char *lent;
    size_t lent_length;
} tls_pipe;

static int pipe_reserve(tls_pipe *pipe, size_t count) {
    if (pipe->start + pipe->length + count <= pipe->capacity) return 1;
    if (pipe->start > 0) {
        memmove(pipe->data, pipe->data + pipe->start, pipe->length);
        pipe->start = 0;
        if (pipe->length + count <= pipe->capacity) return 1;
    }
    size_t capacity = pipe->capacity ? pipe->capacity : 16384;
    while (capacity < pipe->length + count) capacity *= 2;
    unsigned char *data = realloc(pipe->data, capacity);
    if (!data) return 0;
    pipe->data = data;
    pipe->capacity = capacity;
    return 1;
}

static int pipe_append(tls_pipe *pipe, const void *bytes, size_t count) {
    if (!pipe_reserve(pipe, count)) return 0;
    memcpy(pipe->data + pipe->start + pipe->length, bytes, count);
    pipe->length += count;
    return 1;
}

static int pipe_write(BIO *bio, const char *bytes, int count) {
    BIO_clear_retry_flags(bio);
    if (count <= 0) return 0;
    return pipe_append(BIO_get_data(bio), bytes, (size_t)count) ? count : -1;
}

static int pipe_read(BIO *bio, char *out, int count) {
    tls_pipe *pipe = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    size_t wanted = count > 0 ? (size_t)count : 0, done = 0;
    if (pipe->length > 0 && wanted > 0) {
        size_t take = pipe->length < wanted ? pipe->length : wanted;
        memcpy(out, pipe->data + pipe->start, take);
        pipe->start += take;
        pipe->length -= take;
        if (pipe->length == 0) pipe->start = 0;
        done = take;
    }
    if (done < wanted && pipe->lent_length > 0) {
        size_t take = pipe->lent_length < wanted - done ? pipe->lent_length : wanted - done;
        memcpy(out + done, pipe->lent, take);
        pipe->lent += take;
        pipe->lent_length -= take;
        done += take;
    }
    if (done == 0) {
        BIO_set_retry_read(bio);  // Empty means "more to come", not the end of the stream.
        return -1;
    }
    return (int)done;
}

static long pipe_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)number;
    (void)pointer;
    tls_pipe *pipe = BIO_get_data(bio);
    switch (command) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_PENDING: return (long)(pipe->length + pipe->lent_length);
    case BIO_CTRL_WPENDING: return 0;
    default: return 0;
    }
}

static int pipe_create(BIO *bio) {
    tls_pipe *pipe = calloc(1, sizeof *pipe);
    if (!pipe) return 0;
    BIO_set_data(bio, pipe);
    BIO_set_init(bio, 1);
    return 1;
}

static int pipe_destroy(BIO *bio) {
    tls_pipe *pipe = BIO_get_data(bio);
    if (pipe) {
        free(pipe->data);
        free(pipe);
    }
    BIO_set_data(bio, NULL);
    return 1;
}

static BIO_METHOD *pipe_method = NULL;
static pthread_once_t pipe_once = PTHREAD_ONCE_INIT;

static void make_pipe_method(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "swiftray pipe");
    if (!method) return;
    BIO_meth_set_write(method, pipe_write);
    BIO_meth_set_read(method, pipe_read);
    BIO_meth_set_ctrl(method, pipe_ctrl);
    BIO_meth_set_create(method, pipe_create);
    BIO_meth_set_destroy(method, pipe_destroy);
    pipe_method = method;
}

static tls_pipe *in_pipe(void *session) { return BIO_get_data(SSL_get_rbio((SSL *)session)); }
static tls_pipe *out_pipe(void *session) { return BIO_get_data(SSL_get_wbio((SSL *)session)); }

void *swiftray_tls_session(void *context, int server) {
    pthread_once(&pipe_once, make_pipe_method);
    if (!pipe_method) return NULL;
    SSL *ssl = SSL_new((SSL_CTX *)context);
    if (!ssl) return NULL;
    BIO *in = BIO_new(pipe_method);
    BIO *out = BIO_new(pipe_method);
    if (!in || !out) {
        BIO_free(in);
        BIO_free(out);
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_bio(ssl, in, out);
    if (server) SSL_set_accept_state(ssl); else SSL_set_connect_state(ssl);
    return ssl;
}

void swiftray_tls_session_free(void *session) { SSL_free((SSL *)session); }

int swiftray_tls_handshake(void *session) {
    SSL *ssl = session;
    ERR_clear_error();
    int result = SSL_do_handshake(ssl);
    if (result == 1) return 1;
    int code = SSL_get_error(ssl, result);
    return code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

void swiftray_tls_lend(void *session, const void *bytes, size_t count) {
    tls_pipe *pipe = in_pipe(session);
    pipe->lent = bytes;
    pipe->lent_length = count;
}

int swiftray_tls_end_lend(void *session) {
    tls_pipe *pipe = in_pipe(session);
    int kept = pipe->lent_length == 0 || pipe_append(pipe, pipe->lent, pipe->lent_length);
    pipe->lent = NULL;
    pipe->lent_length = 0;
    return kept ? 0 : -1;
}

long swiftray_tls_read(void *session, void *buffer, size_t capacity) {
    SSL *ssl = session;
    ERR_clear_error();
    int result = SSL_read(ssl, buffer, (int)capacity);
    if (result > 0) return result;
    int code = SSL_get_error(ssl, result);
    return code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

long swiftray_tls_write(void *session, const void *bytes, size_t count) {
    SSL *ssl = session;
    size_t done = 0;
    while (done < count) {
        size_t chunk = count - done > (1u << 30) ? (1u << 30) : count - done;
        ERR_clear_error();
        int result = SSL_write(ssl, (const char *)bytes + done, (int)chunk);
        if (result <= 0) return -1;
        done += (size_t)result;
    }
    return (long)done;
}

const void *swiftray_tls_out(void *session, size_t *length) {
    tls_pipe *pipe = out_pipe(session);
    *length = pipe->length;
    return pipe->data ? pipe->data + pipe->start : NULL;
}

void swiftray_tls_out_consume(void *session, size_t count) {
    tls_pipe *pipe = out_pipe(session);
    if (count > pipe->length) count = pipe->length;
    pipe->start += count;
    pipe->length -= count;
    if (pipe->length == 0) pipe->start = 0;
}

int swiftray_tls_channel_binding(void *session, unsigned char *out, size_t length) {
    static const char label[] = "EXPORTER-Channel-Binding";
    SSL *ssl = session;
    if (!SSL_is_init_finished(ssl)) return -1;
    return SSL_export_keying_material(ssl, out, length, label, sizeof label - 1, NULL, 0, 0) == 1 ? 0 : -1;
}

void swiftray_tls_last_error(void *session, char *buffer, size_t size) {
    long verified = session ? SSL_get_verify_result((SSL *)session) : X509_V_OK;
    unsigned long code = ERR_peek_last_error();
    if (verified != X509_V_OK) {
        snprintf(buffer, size, "the peer's certificate is not the cluster's: %s",
                 X509_verify_cert_error_string(verified));
    } else if (code) {
        ERR_error_string_n(code, buffer, size);
    } else {
        snprintf(buffer, size, "the TLS stream ended or is corrupt");
    }
    ERR_clear_error();
}

void *swiftray_tls_connect_fd(void *context, int fd, char *error, size_t error_size) {
    ERR_clear_error();
    SSL *ssl = SSL_new((SSL_CTX *)context);
    if (!ssl) {
        put_error(error, error_size, "cannot make a TLS session");
        return NULL;
    }
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        swiftray_tls_last_error(ssl, error, error_size);
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

long swiftray_tls_fd_read(void *session, void *buffer, size_t capacity) {
    ERR_clear_error();
    int result = SSL_read((SSL *)session, buffer, (int)capacity);
    if (result > 0) return result;
    return SSL_get_error((SSL *)session, result) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

// MARK: Certificates

static int add_extension(X509 *certificate, X509V3_CTX *context, int nid, const char *value) {
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, context, nid, value);
    if (!extension) return 0;
    int added = X509_add_ext(certificate, extension, -1);
    X509_EXTENSION_free(extension);
    return added;
}

static X509 *make_certificate(EVP_PKEY *key, const char *name, X509 *issuer, EVP_PKEY *issuer_key, int ca, int days) {
    X509 *certificate = X509_new();
    BIGNUM *serial = BN_new();
    int ok = certificate && serial && X509_set_version(certificate, 2) && BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)
        && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(certificate))
        && X509_gmtime_adj(X509_getm_notBefore(certificate), -3600)
        && X509_gmtime_adj(X509_getm_notAfter(certificate), (long)days * 86400)
        && X509_set_pubkey(certificate, key);
    BN_free(serial);
    if (!ok) goto fail;
    X509_NAME *subject = X509_get_subject_name(certificate);
    if (!X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC, (const unsigned char *)"SwiftRay cluster", -1, -1, 0)
        || !X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0)
        || !X509_set_issuer_name(certificate, issuer ? X509_get_subject_name(issuer) : subject)) goto fail;
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer ? issuer : certificate, certificate, NULL, NULL, 0);
    if (!add_extension(certificate, &context, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE")
        || !add_extension(certificate, &context, NID_key_usage,
                          ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment")
        || !add_extension(certificate, &context, NID_subject_key_identifier, "hash")
        || (!ca && !add_extension(certificate, &context, NID_ext_key_usage, "serverAuth,clientAuth"))) goto fail;
    if (!X509_sign(certificate, issuer_key ? issuer_key : key, EVP_sha256())) goto fail;
    return certificate;
fail:
    X509_free(certificate);
    return NULL;
}

static int write_pem(const char *directory, const char *file, X509 *certificate, EVP_PKEY *key) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", directory, file);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, key ? 0600 : 0644);
    if (fd < 0) return 0;
    FILE *stream = fdopen(fd, "w");
    if (!stream) {
        close(fd);
        return 0;
    }
    int ok = key ? PEM_write_PrivateKey(stream, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(stream, certificate);
    return fclose(stream) == 0 && ok;
}

int swiftray_tls_make_certificates(const char *ca_directory, const char *out_directory, const char *name,
                                   int make_ca, int valid_days, char *error, size_t error_size) {
    ERR_clear_error();
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509 *ca = NULL, *certificate = NULL;
    char what[4200] = "cannot make the certificates";
    int result = -1;
    char path[4096];
    if (make_ca) {
        ca_key = EVP_EC_gen("P-256");
        ca = ca_key ? make_certificate(ca_key, "SwiftRay cluster CA", NULL, NULL, 1, valid_days) : NULL;
        if (!ca) goto done;
        if (!write_pem(ca_directory, "ca.pem", ca, NULL) || !write_pem(ca_directory, "ca.key", NULL, ca_key)) {
            snprintf(what, sizeof what, "cannot write the CA into %s", ca_directory);
            goto done;
        }
    } else {
        snprintf(path, sizeof path, "%s/ca.pem", ca_directory);
        FILE *stream = fopen(path, "r");
        ca = stream ? PEM_read_X509(stream, NULL, NULL, NULL) : NULL;
        if (stream) fclose(stream);
        snprintf(path, sizeof path, "%s/ca.key", ca_directory);
        stream = fopen(path, "r");
        ca_key = stream ? PEM_read_PrivateKey(stream, NULL, NULL, NULL) : NULL;
        if (stream) fclose(stream);
        if (!ca || !ca_key) {
            snprintf(what, sizeof what, "cannot read the CA (ca.pem and ca.key) in %s", ca_directory);
            goto done;
        }
    }
    key = EVP_EC_gen("P-256");
    certificate = key ? make_certificate(key, name, ca, ca_key, 0, valid_days) : NULL;
    if (!certificate) goto done;
    if (!write_pem(out_directory, "node.pem", certificate, NULL) || !write_pem(out_directory, "node.key", NULL, key)) {
        snprintf(what, sizeof what, "cannot write the certificate into %s", out_directory);
        goto done;
    }
    result = 0;
done:
    if (result != 0) put_error(error, error_size, what);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    X509_free(ca);
    X509_free(certificate);
    return result;
}
