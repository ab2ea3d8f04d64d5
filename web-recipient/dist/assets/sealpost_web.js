let wasm_bindgen = (function(exports) {
    let script_src;
    if (typeof document !== 'undefined' && document.currentScript !== null) {
        script_src = new URL(document.currentScript.src, location.href).toString();
    }

    /**
     * The public keys of an opened key blob. The secret keys are wiped before this returns.
     */
    class KeyBlobPublicKeys {
        static __wrap(ptr) {
            const obj = Object.create(KeyBlobPublicKeys.prototype);
            obj.__wbg_ptr = ptr;
            KeyBlobPublicKeysFinalization.register(obj, obj.__wbg_ptr, obj);
            return obj;
        }
        __destroy_into_raw() {
            const ptr = this.__wbg_ptr;
            this.__wbg_ptr = 0;
            KeyBlobPublicKeysFinalization.unregister(this);
            return ptr;
        }
        free() {
            const ptr = this.__destroy_into_raw();
            wasm.__wbg_keyblobpublickeys_free(ptr, 0);
        }
        /**
         * The Ed25519 public key that signs the user's seals.
         * @returns {Uint8Array}
         */
        get ed25519_public() {
            const ret = wasm.keyblobpublickeys_ed25519_public(this.__wbg_ptr);
            var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
            return v1;
        }
        /**
         * The X25519 public key messages are encrypted to.
         * @returns {Uint8Array}
         */
        get x25519_public() {
            const ret = wasm.keyblobpublickeys_x25519_public(this.__wbg_ptr);
            var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
            return v1;
        }
    }
    if (Symbol.dispose) KeyBlobPublicKeys.prototype[Symbol.dispose] = KeyBlobPublicKeys.prototype.free;
    exports.KeyBlobPublicKeys = KeyBlobPublicKeys;

    /**
     * A recipient share opened from the header, waiting for the server share.
     */
    class OpenedShare {
        static __wrap(ptr) {
            const obj = Object.create(OpenedShare.prototype);
            obj.__wbg_ptr = ptr;
            OpenedShareFinalization.register(obj, obj.__wbg_ptr, obj);
            return obj;
        }
        __destroy_into_raw() {
            const ptr = this.__wbg_ptr;
            this.__wbg_ptr = 0;
            OpenedShareFinalization.unregister(this);
            return ptr;
        }
        free() {
            const ptr = this.__destroy_into_raw();
            wasm.__wbg_openedshare_free(ptr, 0);
        }
        /**
         * The recipient id the share was addressed to (16 bytes), for requesting the server share.
         * @returns {Uint8Array}
         */
        rid() {
            const ret = wasm.openedshare_rid(this.__wbg_ptr);
            var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
            return v1;
        }
        /**
         * The same recipient id as text (URL-safe base64, no padding), as the API and the access
         * log name it: the page checks the release proof against this sealed id.
         * @returns {string}
         */
        rid_text() {
            let deferred1_0;
            let deferred1_1;
            try {
                const ret = wasm.openedshare_rid_text(this.__wbg_ptr);
                deferred1_0 = ret[0];
                deferred1_1 = ret[1];
                return getStringFromWasm0(ret[0], ret[1]);
            } finally {
                wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
            }
        }
    }
    if (Symbol.dispose) OpenedShare.prototype[Symbol.dispose] = OpenedShare.prototype.free;
    exports.OpenedShare = OpenedShare;

    /**
     * The two keys Argon2id derives from a password: the login key for the server, and the key
     * that opens the key blob. Derive once, use for both.
     */
    class PasswordKeysHandle {
        static __wrap(ptr) {
            const obj = Object.create(PasswordKeysHandle.prototype);
            obj.__wbg_ptr = ptr;
            PasswordKeysHandleFinalization.register(obj, obj.__wbg_ptr, obj);
            return obj;
        }
        __destroy_into_raw() {
            const ptr = this.__wbg_ptr;
            this.__wbg_ptr = 0;
            PasswordKeysHandleFinalization.unregister(this);
            return ptr;
        }
        free() {
            const ptr = this.__destroy_into_raw();
            wasm.__wbg_passwordkeyshandle_free(ptr, 0);
        }
        /**
         * The login key, standard base64 without padding, for the `login` request.
         * @returns {string}
         */
        login_key() {
            let deferred1_0;
            let deferred1_1;
            try {
                const ret = wasm.passwordkeyshandle_login_key(this.__wbg_ptr);
                deferred1_0 = ret[0];
                deferred1_1 = ret[1];
                return getStringFromWasm0(ret[0], ret[1]);
            } finally {
                wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
            }
        }
        /**
         * Opens the key blob (its JSON) with these keys; checks its secrets against its public
         * keys. A wrong password fails with "decryption failed".
         * @param {string} json
         * @returns {RecipientKeys}
         */
        open_keyblob(json) {
            const ptr0 = passStringToWasm0(json, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            const len0 = WASM_VECTOR_LEN;
            const ret = wasm.passwordkeyshandle_open_keyblob(this.__wbg_ptr, ptr0, len0);
            if (ret[2]) {
                throw takeFromExternrefTable0(ret[1]);
            }
            return RecipientKeys.__wrap(ret[0]);
        }
    }
    if (Symbol.dispose) PasswordKeysHandle.prototype[Symbol.dispose] = PasswordKeysHandle.prototype.free;
    exports.PasswordKeysHandle = PasswordKeysHandle;

    /**
     * Decrypts one payload as it arrives (a browser fetching ranges), checked against the seal.
     *
     * `push` returns the plaintext of the chunks the bytes completed: a verified prefix of the
     * attachment, never the whole of it until `finish` has succeeded. The final chunk is released
     * only after the chunk root matched the seal. Any failure is "decryption failed" and ends the
     * stream.
     */
    class PayloadStream {
        static __wrap(ptr) {
            const obj = Object.create(PayloadStream.prototype);
            obj.__wbg_ptr = ptr;
            PayloadStreamFinalization.register(obj, obj.__wbg_ptr, obj);
            return obj;
        }
        __destroy_into_raw() {
            const ptr = this.__wbg_ptr;
            this.__wbg_ptr = 0;
            PayloadStreamFinalization.unregister(this);
            return ptr;
        }
        free() {
            const ptr = this.__destroy_into_raw();
            wasm.__wbg_payloadstream_free(ptr, 0);
        }
        /**
         * Ends the stream: succeeds only if exactly the sealed bytes arrived and everything
         * verified. Call it before declaring the attachment saved.
         */
        finish() {
            const ret = wasm.payloadstream_finish(this.__wbg_ptr);
            if (ret[1]) {
                throw takeFromExternrefTable0(ret[0]);
            }
        }
        /**
         * The sealed payload length in bytes, nonce included: the bytes to fetch.
         * @returns {number}
         */
        payload_length() {
            const ret = wasm.payloadstream_payload_length(this.__wbg_ptr);
            return ret;
        }
        /**
         * The plaintext length in bytes the seal promises.
         * @returns {number}
         */
        plaintext_length() {
            const ret = wasm.payloadstream_plaintext_length(this.__wbg_ptr);
            return ret;
        }
        /**
         * Feeds the next bytes of the payload; returns the plaintext of every chunk they complete
         * (possibly empty). Fails on more bytes than sealed, a wrong nonce, a bad chunk or a
         * chunk root that differs from the seal; the stream is then dead.
         * @param {Uint8Array | number[]} bytes
         * @returns {Uint8Array}
         */
        push(bytes) {
            const ptr0 = passArray8ToWasm0(bytes, wasm.__wbindgen_malloc);
            const len0 = WASM_VECTOR_LEN;
            const ret = wasm.payloadstream_push(this.__wbg_ptr, ptr0, len0);
            if (ret[3]) {
                throw takeFromExternrefTable0(ret[2]);
            }
            var v2 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
            return v2;
        }
        /**
         * Payload bytes received so far: the offset of the next byte to fetch.
         * @returns {number}
         */
        received() {
            const ret = wasm.payloadstream_received(this.__wbg_ptr);
            return ret;
        }
    }
    if (Symbol.dispose) PayloadStream.prototype[Symbol.dispose] = PayloadStream.prototype.free;
    exports.PayloadStream = PayloadStream;

    /**
     * A registered recipient's X25519 secret key, opened from their key blob. Opaque; wiped when
     * freed. The signing key in the blob is dropped at once: the page never signs.
     */
    class RecipientKeys {
        static __wrap(ptr) {
            const obj = Object.create(RecipientKeys.prototype);
            obj.__wbg_ptr = ptr;
            RecipientKeysFinalization.register(obj, obj.__wbg_ptr, obj);
            return obj;
        }
        __destroy_into_raw() {
            const ptr = this.__wbg_ptr;
            this.__wbg_ptr = 0;
            RecipientKeysFinalization.unregister(this);
            return ptr;
        }
        free() {
            const ptr = this.__destroy_into_raw();
            wasm.__wbg_recipientkeys_free(ptr, 0);
        }
        /**
         * The X25519 public key.
         * @returns {Uint8Array}
         */
        get x25519_public() {
            const ret = wasm.recipientkeys_x25519_public(this.__wbg_ptr);
            var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
            return v1;
        }
    }
    if (Symbol.dispose) RecipientKeys.prototype[Symbol.dispose] = RecipientKeys.prototype.free;
    exports.RecipientKeys = RecipientKeys;

    /**
     * A message whose file key is known and verified: an opaque handle that decrypts payloads.
     */
    class UnlockedMessage {
        static __wrap(ptr) {
            const obj = Object.create(UnlockedMessage.prototype);
            obj.__wbg_ptr = ptr;
            UnlockedMessageFinalization.register(obj, obj.__wbg_ptr, obj);
            return obj;
        }
        __destroy_into_raw() {
            const ptr = this.__wbg_ptr;
            this.__wbg_ptr = 0;
            UnlockedMessageFinalization.unregister(this);
            return ptr;
        }
        free() {
            const ptr = this.__destroy_into_raw();
            wasm.__wbg_unlockedmessage_free(ptr, 0);
        }
        /**
         * Decrypts payload `index` (0 is the manifest), checking its sealed nonce, length and chunk
         * root. Fails with "decryption failed" on any tampering.
         * @param {number} index
         * @param {Uint8Array | number[]} payload
         * @returns {Uint8Array}
         */
        decrypt_payload(index, payload) {
            const val2 = +index;
            const ptr0 = passArray8ToWasm0(payload, wasm.__wbindgen_malloc);
            const len0 = WASM_VECTOR_LEN;
            const ret = wasm.unlockedmessage_decrypt_payload(this.__wbg_ptr, val2, ptr0, len0);
            if (ret[3]) {
                throw takeFromExternrefTable0(ret[2]);
            }
            var v3 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
            return v3;
        }
        /**
         * Decrypts the manifest (payload 0), checks it against the seal, and returns it as JSON:
         * `{"v":1,"subject":…,"body":…,"attachments":[{"name":…,"size":…,"media_type":…}]}`.
         * @param {Uint8Array | number[]} payload
         * @returns {string}
         */
        manifest(payload) {
            let deferred3_0;
            let deferred3_1;
            try {
                const ptr0 = passArray8ToWasm0(payload, wasm.__wbindgen_malloc);
                const len0 = WASM_VECTOR_LEN;
                const ret = wasm.unlockedmessage_manifest(this.__wbg_ptr, ptr0, len0);
                var ptr2 = ret[0];
                var len2 = ret[1];
                if (ret[3]) {
                    ptr2 = 0; len2 = 0;
                    throw takeFromExternrefTable0(ret[2]);
                }
                deferred3_0 = ptr2;
                deferred3_1 = len2;
                return getStringFromWasm0(ptr2, len2);
            } finally {
                wasm.__wbindgen_free(deferred3_0, deferred3_1, 1);
            }
        }
        /**
         * Number of payloads: the manifest, then one per attachment.
         * @returns {number}
         */
        payload_count() {
            const ret = wasm.unlockedmessage_payload_count(this.__wbg_ptr);
            return ret >>> 0;
        }
        /**
         * A streaming decryptor for payload `index`: feed it the payload from its first byte in
         * pieces of any size. It checks the sealed nonce, length, every chunk and the chunk root;
         * its output is complete only when `finish` succeeds.
         * @param {number} index
         * @returns {PayloadStream}
         */
        payload_stream(index) {
            const ret = wasm.unlockedmessage_payload_stream(this.__wbg_ptr, index);
            if (ret[2]) {
                throw takeFromExternrefTable0(ret[1]);
            }
            return PayloadStream.__wrap(ret[0]);
        }
        /**
         * The plaintext length in bytes of payload `index`, as sealed (for `Content-Length`).
         * @param {number} index
         * @returns {number}
         */
        plaintext_length(index) {
            const ret = wasm.unlockedmessage_plaintext_length(this.__wbg_ptr, index);
            if (ret[2]) {
                throw takeFromExternrefTable0(ret[1]);
            }
            return ret[0];
        }
    }
    if (Symbol.dispose) UnlockedMessage.prototype[Symbol.dispose] = UnlockedMessage.prototype.free;
    exports.UnlockedMessage = UnlockedMessage;

    /**
     * A message whose seal verified against the sender's key and whose header is the sealed one.
     */
    class VerifiedEnvelope {
        static __wrap(ptr) {
            const obj = Object.create(VerifiedEnvelope.prototype);
            obj.__wbg_ptr = ptr;
            VerifiedEnvelopeFinalization.register(obj, obj.__wbg_ptr, obj);
            return obj;
        }
        __destroy_into_raw() {
            const ptr = this.__wbg_ptr;
            this.__wbg_ptr = 0;
            VerifiedEnvelopeFinalization.unregister(this);
            return ptr;
        }
        free() {
            const ptr = this.__destroy_into_raw();
            wasm.__wbg_verifiedenvelope_free(ptr, 0);
        }
        /**
         * Opens the recipient share addressed to the link key `link_secret` (the URL-safe base64
         * secret from the link fragment). Needs no server share and reveals nothing on its own.
         * @param {string} link_secret
         * @returns {OpenedShare}
         */
        open_share(link_secret) {
            const ptr0 = passStringToWasm0(link_secret, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            const len0 = WASM_VECTOR_LEN;
            const ret = wasm.verifiedenvelope_open_share(this.__wbg_ptr, ptr0, len0);
            if (ret[2]) {
                throw takeFromExternrefTable0(ret[1]);
            }
            return OpenedShare.__wrap(ret[0]);
        }
        /**
         * As [`Self::open_share`], with a registered recipient's own key from their key blob.
         * @param {RecipientKeys} keys
         * @returns {OpenedShare}
         */
        open_share_with_keys(keys) {
            _assertClass(keys, RecipientKeys);
            const ret = wasm.verifiedenvelope_open_share_with_keys(this.__wbg_ptr, keys.__wbg_ptr);
            if (ret[2]) {
                throw takeFromExternrefTable0(ret[1]);
            }
            return OpenedShare.__wrap(ret[0]);
        }
        /**
         * Number of payloads the seal lists: the manifest, then one per attachment.
         * @returns {number}
         */
        payload_count() {
            const ret = wasm.verifiedenvelope_payload_count(this.__wbg_ptr);
            return ret >>> 0;
        }
        /**
         * The sealed length in bytes of payload `index` (what the store must serve).
         * @param {number} index
         * @returns {number}
         */
        payload_length(index) {
            const ret = wasm.verifiedenvelope_payload_length(this.__wbg_ptr, index);
            if (ret[2]) {
                throw takeFromExternrefTable0(ret[1]);
            }
            return ret[0];
        }
        /**
         * Whether `policy` is the policy the sender sealed.
         * @param {Uint8Array | number[]} policy
         * @returns {boolean}
         */
        policy_matches(policy) {
            const ptr0 = passArray8ToWasm0(policy, wasm.__wbindgen_malloc);
            const len0 = WASM_VECTOR_LEN;
            const ret = wasm.verifiedenvelope_policy_matches(this.__wbg_ptr, ptr0, len0);
            return ret !== 0;
        }
        /**
         * Combines an opened share with the 32-byte server share and verifies the header MAC.
         * @param {OpenedShare} share
         * @param {Uint8Array | number[]} server_share
         * @returns {UnlockedMessage}
         */
        unlock(share, server_share) {
            _assertClass(share, OpenedShare);
            const ptr0 = passArray8ToWasm0(server_share, wasm.__wbindgen_malloc);
            const len0 = WASM_VECTOR_LEN;
            const ret = wasm.verifiedenvelope_unlock(this.__wbg_ptr, share.__wbg_ptr, ptr0, len0);
            if (ret[2]) {
                throw takeFromExternrefTable0(ret[1]);
            }
            return UnlockedMessage.__wrap(ret[0]);
        }
    }
    if (Symbol.dispose) VerifiedEnvelope.prototype[Symbol.dispose] = VerifiedEnvelope.prototype.free;
    exports.VerifiedEnvelope = VerifiedEnvelope;

    /**
     * Checks that `log_key_text` is a valid C2SP verifier key (`name+hex(key ID)+base64(0x01 ‖ pk)`).
     * The page calls it when it pins the key, before the recipient verifies.
     * @param {string} log_key_text
     */
    function check_log_key(log_key_text) {
        const ptr0 = passStringToWasm0(log_key_text, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.check_log_key(ptr0, len0);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    exports.check_log_key = check_log_key;

    /**
     * The login key for `password` under the key blob's KDF object (`kdf_json`), standard base64
     * without padding. One Argon2id run; prefer `derive_password_keys` when the blob is opened next.
     * @param {string} kdf_json
     * @param {string} password
     * @returns {string}
     */
    function derive_login_key(kdf_json, password) {
        let deferred4_0;
        let deferred4_1;
        try {
            let ptr0, len0, ptr1, len1;
            try {
                ptr0 = passStringToWasm0(kdf_json, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
                len0 = WASM_VECTOR_LEN;
                ptr1 = passStringToWasm0(password, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
                len1 = WASM_VECTOR_LEN;
            } catch (e) {
                if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
                if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
                throw e;
            }
            const ret = wasm.derive_login_key(ptr0, len0, ptr1, len1);
            var ptr3 = ret[0];
            var len3 = ret[1];
            if (ret[3]) {
                ptr3 = 0; len3 = 0;
                throw takeFromExternrefTable0(ret[2]);
            }
            deferred4_0 = ptr3;
            deferred4_1 = len3;
            return getStringFromWasm0(ptr3, len3);
        } finally {
            wasm.__wbindgen_free(deferred4_0, deferred4_1, 1);
        }
    }
    exports.derive_login_key = derive_login_key;

    /**
     * Runs Argon2id over `password` with the key blob's KDF object (`kdf_json`, the `kdf` member of
     * the `prelogin` answer). Parameters outside the accepted range fail before any work.
     * @param {string} kdf_json
     * @param {string} password
     * @returns {PasswordKeysHandle}
     */
    function derive_password_keys(kdf_json, password) {
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passStringToWasm0(kdf_json, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passStringToWasm0(password, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.derive_password_keys(ptr0, len0, ptr1, len1);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return PasswordKeysHandle.__wrap(ret[0]);
    }
    exports.derive_password_keys = derive_password_keys;

    /**
     * Opens a key blob with its password into a handle for `open_share_with_keys`.
     * @param {string} json
     * @param {string} password
     * @returns {RecipientKeys}
     */
    function open_keyblob(json, password) {
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passStringToWasm0(json, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passStringToWasm0(password, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.open_keyblob(ptr0, len0, ptr1, len1);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return RecipientKeys.__wrap(ret[0]);
    }
    exports.open_keyblob = open_keyblob;

    /**
     * Opens a password-protected key blob (its JSON as the server stores it) and returns its
     * public keys. A wrong password fails with "decryption failed"; Argon2id parameters outside
     * the accepted range fail before any work.
     * @param {string} json
     * @param {string} password
     * @returns {KeyBlobPublicKeys}
     */
    function unlock_keyblob(json, password) {
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passStringToWasm0(json, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passStringToWasm0(password, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.unlock_keyblob(ptr0, len0, ptr1, len1);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return KeyBlobPublicKeys.__wrap(ret[0]);
    }
    exports.unlock_keyblob = unlock_keyblob;

    /**
     * Verifies the sender's seal (`seal_text`, a signed note) against the sender's Ed25519 public
     * key, checks that it names message `msg_id_text` (URL-safe base64) and binds `header`.
     * @param {string} msg_id_text
     * @param {Uint8Array | number[]} header
     * @param {string} seal_text
     * @param {Uint8Array | number[]} sender_public
     * @returns {VerifiedEnvelope}
     */
    function verify_envelope(msg_id_text, header, seal_text, sender_public) {
        let ptr0, len0, ptr1, len1, ptr2, len2, ptr3, len3;
        try {
            ptr0 = passStringToWasm0(msg_id_text, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passArray8ToWasm0(header, wasm.__wbindgen_malloc);
            len1 = WASM_VECTOR_LEN;
            ptr2 = passStringToWasm0(seal_text, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len2 = WASM_VECTOR_LEN;
            ptr3 = passArray8ToWasm0(sender_public, wasm.__wbindgen_malloc);
            len3 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr3) { wasm.__wbindgen_free(ptr3, len3 * 1, 1); }
            if (ptr2) { wasm.__wbindgen_free(ptr2, len2 * 1, 1); }
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.verify_envelope(ptr0, len0, ptr1, len1, ptr2, len2, ptr3, len3);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return VerifiedEnvelope.__wrap(ret[0]);
    }
    exports.verify_envelope = verify_envelope;

    /**
     * Checks the proof that comes with a released server share ("log before release"): the
     * checkpoint note (`checkpoint`) is signed by the log key `log_key_text` (C2SP vkey text),
     * the leaf (`leaf_b64`, standard padded base64 of the log entry text) is at `index` in that
     * checkpoint's tree by the inclusion proof `proof_b64` (standard padded base64 hashes, leaf to
     * root), and it is a `share.released` entry at that index naming `message_id` and `rid`.
     *
     * `index` is a JavaScript number: it must be a non-negative integer below 2^53. Fails with a
     * plain message on any mismatch; the share must then not be used.
     * @param {string} log_key_text
     * @param {string} checkpoint
     * @param {number} index
     * @param {string} leaf_b64
     * @param {string[]} proof_b64
     * @param {string} message_id
     * @param {string} rid
     */
    function verify_release(log_key_text, checkpoint, index, leaf_b64, proof_b64, message_id, rid) {
        const val7 = +index;
        let ptr0, len0, ptr1, len1, ptr2, len2, ptr3, len3, ptr4, len4, ptr5, len5;
        try {
            ptr0 = passStringToWasm0(log_key_text, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passStringToWasm0(checkpoint, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len1 = WASM_VECTOR_LEN;
            ptr2 = passStringToWasm0(leaf_b64, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len2 = WASM_VECTOR_LEN;
            ptr3 = passArrayJsValueToWasm0(proof_b64, wasm.__wbindgen_malloc);
            len3 = WASM_VECTOR_LEN;
            ptr4 = passStringToWasm0(message_id, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len4 = WASM_VECTOR_LEN;
            ptr5 = passStringToWasm0(rid, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len5 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr5) { wasm.__wbindgen_free(ptr5, len5 * 1, 1); }
            if (ptr4) { wasm.__wbindgen_free(ptr4, len4 * 1, 1); }
            if (ptr3) { wasm.__externref_drop_slice(ptr3, len3); wasm.__wbindgen_free(ptr3, len3 * 4, 4); }
            if (ptr2) { wasm.__wbindgen_free(ptr2, len2 * 1, 1); }
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.verify_release(ptr0, len0, ptr1, len1, val7, ptr2, len2, ptr3, len3, ptr4, len4, ptr5, len5);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    exports.verify_release = verify_release;
    function __wbg_get_imports() {
        const import0 = {
            __proto__: null,
            __wbg_Error_208446807d0d1e30: function(arg0, arg1) {
                const ret = Error(getStringFromWasm0(arg0, arg1));
                return ret;
            },
            __wbg___wbindgen_string_get_7ce8eee7fd327545: function(arg0, arg1) {
                const obj = arg1;
                const ret = typeof(obj) === 'string' ? obj : undefined;
                var ptr1 = isLikeNone(ret) ? 0 : passStringToWasm0(ret, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
                var len1 = WASM_VECTOR_LEN;
                getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 1, len1, true);
                getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, ptr1, true);
            },
            __wbg___wbindgen_throw_4c88d8bf264fd984: function(arg0, arg1) {
                throw new Error(getStringFromWasm0(arg0, arg1));
            },
            __wbindgen_init_externref_table: function() {
                const table = wasm.__wbindgen_externrefs;
                table.set(0, undefined);
                table.set(1024, undefined);
                table.set(1025, null);
                table.set(1026, true);
                table.set(1027, false);
            },
        };
        return {
            __proto__: null,
            "./sealpost_web_bg.js": import0,
        };
    }

    const KeyBlobPublicKeysFinalization = (typeof FinalizationRegistry === 'undefined')
        ? { register: () => {}, unregister: () => {} }
        : new FinalizationRegistry(ptr => wasm.__wbg_keyblobpublickeys_free(ptr, 1));
    const OpenedShareFinalization = (typeof FinalizationRegistry === 'undefined')
        ? { register: () => {}, unregister: () => {} }
        : new FinalizationRegistry(ptr => wasm.__wbg_openedshare_free(ptr, 1));
    const PasswordKeysHandleFinalization = (typeof FinalizationRegistry === 'undefined')
        ? { register: () => {}, unregister: () => {} }
        : new FinalizationRegistry(ptr => wasm.__wbg_passwordkeyshandle_free(ptr, 1));
    const PayloadStreamFinalization = (typeof FinalizationRegistry === 'undefined')
        ? { register: () => {}, unregister: () => {} }
        : new FinalizationRegistry(ptr => wasm.__wbg_payloadstream_free(ptr, 1));
    const RecipientKeysFinalization = (typeof FinalizationRegistry === 'undefined')
        ? { register: () => {}, unregister: () => {} }
        : new FinalizationRegistry(ptr => wasm.__wbg_recipientkeys_free(ptr, 1));
    const UnlockedMessageFinalization = (typeof FinalizationRegistry === 'undefined')
        ? { register: () => {}, unregister: () => {} }
        : new FinalizationRegistry(ptr => wasm.__wbg_unlockedmessage_free(ptr, 1));
    const VerifiedEnvelopeFinalization = (typeof FinalizationRegistry === 'undefined')
        ? { register: () => {}, unregister: () => {} }
        : new FinalizationRegistry(ptr => wasm.__wbg_verifiedenvelope_free(ptr, 1));

    function addToExternrefTable0(obj) {
        const idx = wasm.__externref_table_alloc();
        wasm.__wbindgen_externrefs.set(idx, obj);
        return idx;
    }

    function _assertClass(instance, klass) {
        if (!(instance instanceof klass)) {
            throw new Error(`expected instance of ${klass.name}`);
        }
    }

    function getArrayU8FromWasm0(ptr, len) {
        ptr = ptr >>> 0;
        return getUint8ArrayMemory0().subarray(ptr / 1, ptr / 1 + len);
    }

    let cachedDataViewMemory0 = null;
    function getDataViewMemory0() {
        if (cachedDataViewMemory0 === null || cachedDataViewMemory0.buffer.detached === true || (cachedDataViewMemory0.buffer.detached === undefined && cachedDataViewMemory0.buffer !== wasm.memory.buffer)) {
            cachedDataViewMemory0 = new DataView(wasm.memory.buffer);
        }
        return cachedDataViewMemory0;
    }

    function getStringFromWasm0(ptr, len) {
        ptr = ptr >>> 0;
        return decodeText(getUint8ArrayMemory0().subarray(ptr, ptr + len));
    }

    let cachedUint8ArrayMemory0 = null;
    function getUint8ArrayMemory0() {
        if (cachedUint8ArrayMemory0 === null || cachedUint8ArrayMemory0.byteLength === 0) {
            cachedUint8ArrayMemory0 = new Uint8Array(wasm.memory.buffer);
        }
        return cachedUint8ArrayMemory0;
    }

    function isLikeNone(x) {
        return x === undefined || x === null;
    }

    function passArray8ToWasm0(arg, malloc) {
        const ptr = malloc(arg.length * 1, 1) >>> 0;
        getUint8ArrayMemory0().set(arg, ptr / 1);
        WASM_VECTOR_LEN = arg.length;
        return ptr;
    }

    function passArrayJsValueToWasm0(array, malloc) {
        const ptr = malloc(array.length * 4, 4) >>> 0;
        for (let i = 0; i < array.length; i++) {
            const add = addToExternrefTable0(array[i]);
            getDataViewMemory0().setUint32(ptr + 4 * i, add, true);
        }
        WASM_VECTOR_LEN = array.length;
        return ptr;
    }

    function passStringToWasm0(arg, malloc, realloc) {
        if (realloc === undefined) {
            const buf = cachedTextEncoder.encode(arg);
            const ptr = malloc(buf.length, 1) >>> 0;
            getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);
            WASM_VECTOR_LEN = buf.length;
            return ptr;
        }

        let len = arg.length;
        let ptr = malloc(len, 1) >>> 0;

        const mem = getUint8ArrayMemory0();

        let offset = 0;

        for (; offset < len; offset++) {
            const code = arg.charCodeAt(offset);
            if (code > 0x7F) break;
            mem[ptr + offset] = code;
        }
        if (offset !== len) {
            if (offset !== 0) {
                arg = arg.slice(offset);
            }
            ptr = realloc(ptr, len, len = offset + arg.length * 3, 1) >>> 0;
            const view = getUint8ArrayMemory0().subarray(ptr + offset, ptr + len);
            const ret = cachedTextEncoder.encodeInto(arg, view);

            offset += ret.written;
            ptr = realloc(ptr, len, offset, 1) >>> 0;
        }

        WASM_VECTOR_LEN = offset;
        return ptr;
    }

    function takeFromExternrefTable0(idx) {
        const value = wasm.__wbindgen_externrefs.get(idx);
        wasm.__externref_table_dealloc(idx);
        return value;
    }

    let cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
    cachedTextDecoder.decode();
    function decodeText(bytes) {
        return cachedTextDecoder.decode(bytes);
    }

    const cachedTextEncoder = new TextEncoder();

    if (!('encodeInto' in cachedTextEncoder)) {
        cachedTextEncoder.encodeInto = function (arg, view) {
            const buf = cachedTextEncoder.encode(arg);
            view.set(buf);
            return {
                read: arg.length,
                written: buf.length
            };
        };
    }

    let WASM_VECTOR_LEN = 0;

    let wasmModule, wasmInstance, wasm;
    function __wbg_finalize_init(instance, module) {
        wasmInstance = instance;
        wasm = instance.exports;
        wasmModule = module;
        cachedDataViewMemory0 = null;
        cachedUint8ArrayMemory0 = null;
        wasm.__wbindgen_start();
        return wasm;
    }

    async function __wbg_load(module, imports) {
        if (typeof Response === 'function' && module instanceof Response) {
            if (!module.ok) {
                throw new Error(`failed to fetch Wasm: ${module.status} ${module.statusText} fetching '${module.url}'`);
            }

            if (typeof WebAssembly.instantiateStreaming === 'function') {
                try {
                    return await WebAssembly.instantiateStreaming(module, imports);
                } catch (e) {
                    const validResponse = expectedResponseType(module.type);

                    if (validResponse && module.headers.get('Content-Type') !== 'application/wasm') {
                        console.warn("`WebAssembly.instantiateStreaming` failed because your server does not serve Wasm with `application/wasm` MIME type. Falling back to `WebAssembly.instantiate` which is slower. Original error:\n", e);

                    } else { throw e; }
                }
            }

            const bytes = await module.arrayBuffer();
            return await WebAssembly.instantiate(bytes, imports);
        } else {
            const instance = await WebAssembly.instantiate(module, imports);

            if (instance instanceof WebAssembly.Instance) {
                return { instance, module };
            } else {
                return instance;
            }
        }

        function expectedResponseType(type) {
            switch (type) {
                case 'basic': case 'cors': case 'default': return true;
            }
            return false;
        }
    }

    function initSync(module) {
        if (wasm !== undefined) return wasm;


        if (module !== undefined) {
            if (Object.getPrototypeOf(module) === Object.prototype) {
                ({module} = module)
            } else {
                console.warn('using deprecated parameters for `initSync()`; pass a single object instead')
            }
        }

        const imports = __wbg_get_imports();
        if (!(module instanceof WebAssembly.Module)) {
            module = new WebAssembly.Module(module);
        }
        const instance = new WebAssembly.Instance(module, imports);
        return __wbg_finalize_init(instance, module);
    }

    let __wbg_init_promise;
    async function __wbg_init(module_or_path) {
        if (wasm !== undefined) return wasm;
        if (__wbg_init_promise === undefined) {
            __wbg_init_promise = __wbg_init_once(module_or_path);
            __wbg_init_promise.catch(() => { __wbg_init_promise = undefined; });
        }
        return __wbg_init_promise;
    }

    async function __wbg_init_once(module_or_path) {

        if (module_or_path !== undefined) {
            if (Object.getPrototypeOf(module_or_path) === Object.prototype) {
                ({module_or_path} = module_or_path)
            } else {
                console.warn('using deprecated parameters for the initialization function; pass a single object instead')
            }
        }

        if (module_or_path === undefined && script_src !== undefined) {
            module_or_path = script_src.replace(/\.js$/, "_bg.wasm");
        }
        const imports = __wbg_get_imports();

        if (typeof module_or_path === 'string' || (typeof Request === 'function' && module_or_path instanceof Request) || (typeof URL === 'function' && module_or_path instanceof URL)) {
            module_or_path = fetch(module_or_path);
        }

        const { instance, module } = await __wbg_load(await module_or_path, imports);

        return __wbg_finalize_init(instance, module);
    }

    return Object.assign(__wbg_init, { initSync }, exports);
})({ __proto__: null });
