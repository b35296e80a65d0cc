"""WeCom callback crypto against WeCom's published sample vectors, and its refusals."""

from __future__ import annotations

import base64

import pytest

from bot.channels.wecom.crypto import WeComCrypto, WeComCryptoError, signature

# WeCom's sample (developer.work.weixin.qq.com/document/path/90968, also in its WXBizMsgCrypt samples).
TOKEN, KEY, CORP_ID = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"
ECHO = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
POST_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUU"
    "kSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0e"
    "kUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0"
    "+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R"
    "07+qN+E7Q=="
)


def test_official_url_check_vector_decrypts_to_the_documented_echo():
    crypto = WeComCrypto(TOKEN, KEY, CORP_ID)
    echo = crypto.verify("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", ECHO)
    assert echo == "1616140317555161061"


def test_official_message_vector_verifies_and_decrypts():
    crypto = WeComCrypto(TOKEN, KEY, CORP_ID)
    message = crypto.verify("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", POST_ENCRYPT)
    assert "<ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>" in message


def test_a_tampered_signature_or_receive_id_is_refused():
    with pytest.raises(WeComCryptoError, match="msg_signature"):
        WeComCrypto(TOKEN, KEY, CORP_ID).verify("0" * 40, "1409659589", "263014780", ECHO)
    with pytest.raises(WeComCryptoError, match="receive id"):
        WeComCrypto(TOKEN, KEY, "").decrypt(ECHO)  # an AI bot's receive id is "", the sample's is the corp id


def test_round_trip_in_chinese_with_the_ai_bot_receive_id():
    crypto = WeComCrypto("tok", KEY)
    text = '{"text": {"content": "孵化器的申请条件是什么？"}}'
    encrypted = crypto.encrypt(text)
    assert len(base64.b64decode(encrypted)) % 32 == 0  # WeCom pads to 32 bytes
    assert crypto.verify(signature("tok", "1", "n", encrypted), "1", "n", encrypted) == text


def test_bad_padding_bad_base64_and_bad_keys_are_specific_errors():
    crypto = WeComCrypto("tok", KEY)
    raw = bytearray(base64.b64decode(crypto.encrypt("hello")))
    raw[-1] ^= 0xFF  # corrupts the last block, hence the padding
    with pytest.raises(WeComCryptoError, match=r"padding|length"):
        crypto.decrypt(base64.b64encode(bytes(raw)).decode())
    with pytest.raises(WeComCryptoError, match="base64"):
        crypto.decrypt("not base64!")
    with pytest.raises(WeComCryptoError, match="43 characters"):
        WeComCrypto("tok", KEY[:-1])
