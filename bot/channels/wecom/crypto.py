"""WeCom callback crypto: SHA1 signatures and AES-256-CBC with the 43-character EncodingAESKey.

Written on `cryptography` rather than `wechatpy` (barely maintained, pulls in extra dependencies) or WeCom's
sample code (pycryptodome, no package): the scheme is small and is checked against WeCom's published vectors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher

BLOCK = 32  # WeCom pads to 32 bytes, not the AES block size of 16


class WeComCryptoError(ValueError):
    """A callback whose signature, padding, length or receive id is wrong."""


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """msg_signature: SHA1 over the sorted token, timestamp, nonce and ciphertext."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def _pad(data: bytes) -> bytes:
    size = BLOCK - len(data) % BLOCK
    return data + bytes([size]) * size


def _unpad(data: bytes) -> bytes:
    if not data:
        raise WeComCryptoError("empty plaintext")
    size = data[-1]
    if not 1 <= size <= BLOCK or data[-size:] != bytes([size]) * size:
        raise WeComCryptoError("bad PKCS#7 padding")
    return data[:-size]


class WeComCrypto:
    """Signs, encrypts and decrypts callback bodies for one token and EncodingAESKey."""

    def __init__(self, token: str, aes_key: str, receive_id: str = "") -> None:
        if len(aes_key) != 43:
            raise WeComCryptoError(f"EncodingAESKey must be 43 characters, got {len(aes_key)}")
        try:
            self.key = base64.b64decode(aes_key + "=", validate=True)
        except binascii.Error as error:
            raise WeComCryptoError(f"EncodingAESKey is not base64: {error}") from error
        self.token = token
        self.receive_id = receive_id

    def _cipher(self) -> Cipher:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, plaintext: str, random16: bytes | None = None) -> str:
        """Base64 of AES(random16 + length + message + receive id), padded to 32 bytes."""
        message = plaintext.encode()
        body = (random16 or os.urandom(16)) + struct.pack(">I", len(message)) + message + self.receive_id.encode()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(_pad(body)) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        """The message inside a ciphertext; WeComCryptoError when anything about it is wrong."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except binascii.Error as error:
            raise WeComCryptoError(f"ciphertext is not base64: {error}") from error
        if not raw or len(raw) % 16:
            raise WeComCryptoError(f"ciphertext length {len(raw)} is not a multiple of 16")
        decryptor = self._cipher().decryptor()
        body = _unpad(decryptor.update(raw) + decryptor.finalize())
        if len(body) < 20:
            raise WeComCryptoError("plaintext shorter than its header")
        (length,) = struct.unpack(">I", body[16:20])
        message, receive_id = body[20 : 20 + length], body[20 + length :]
        if len(message) != length or receive_id.decode(errors="replace") != self.receive_id:
            raise WeComCryptoError("message length or receive id does not match")
        try:
            return message.decode()
        except UnicodeDecodeError as error:
            raise WeComCryptoError("message is not UTF-8") from error

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """Check the signature, then decrypt."""
        expected = signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected, msg_signature):
            raise WeComCryptoError("msg_signature does not match")
        return self.decrypt(encrypted)

    def seal(self, plaintext: str, timestamp: str, nonce: str) -> dict[str, str | int]:
        """An encrypted reply body: encrypt, msgsignature, timestamp, nonce."""
        encrypted = self.encrypt(plaintext)
        return {
            "encrypt": encrypted,
            "msgsignature": signature(self.token, timestamp, nonce, encrypted),
            "timestamp": int(timestamp),
            "nonce": nonce,
        }
