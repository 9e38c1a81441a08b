import os
import stat

import pytest
from cryptography.fernet import Fernet

from hub.storage.config import ConfigError
from hub.storage.vault import Vault, load_keys


def test_round_trip_and_json():
    vault = Vault([Fernet.generate_key().decode()])
    token = vault.encrypt("s3cret ünïcode")
    assert "s3cret" not in token
    assert vault.decrypt(token) == "s3cret ünïcode"
    assert vault.decrypt_json(vault.encrypt_json({"a": [1, "x"]})) == {"a": [1, "x"]}
    assert vault.decrypt_json(None, default={}) == {}


def test_older_keys_still_decrypt_and_rotate_moves_to_the_newest():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = Vault([old]).encrypt("value")
    both = Vault([new, old])
    assert both.decrypt(token) == "value"
    rotated = both.rotate(token)
    assert Vault([new]).decrypt(rotated) == "value"
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        Vault([new]).decrypt(token)


def test_bad_key_names_its_position():
    with pytest.raises(ConfigError, match="key 2 is not a Fernet key"):
        Vault([Fernet.generate_key().decode(), "short"])


def test_key_file_is_generated_once_with_mode_0600(tmp_path):
    keys = load_keys((), str(tmp_path))
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keys((), str(tmp_path)) == keys          # reused, not regenerated
    Fernet(keys[0].encode())                              # a valid key
    assert load_keys(("given",), str(tmp_path)) == ["given"]
