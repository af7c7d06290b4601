from supportdesk_messaging.sealing import new_key, seal, unseal


def test_a_sealed_value_opens_with_its_key_only() -> None:
    key, other = new_key(), new_key()
    sealed = seal(key, "the-token")
    assert "the-token" not in sealed
    assert unseal(key, sealed) == "the-token"
    assert unseal(other, sealed) is None
    assert unseal(key, sealed[:-4] + "AAAA") is None  # tampered
