"""
The demo host's secrets: RSA signing keys for its JWTs, in the JWK form the LMS's JWT_AUTH
settings use, and the per-install secrets no public default may stand in for.
"""
import json
import os
import secrets

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def demo_signing_jwk():
    """A fresh private RSA key as a JWK (JSON string): tokens from another process stop working."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return json.dumps({**json.loads(RSAAlgorithm.to_jwk(key)), "kid": "activation-demo"})


def public_jwk_set(private_jwk):
    """The public half of ``private_jwk``, as the JWK set verifiers are configured with."""
    public = RSAAlgorithm.from_jwk(private_jwk).public_key()
    return json.dumps({"keys": [{**json.loads(RSAAlgorithm.to_jwk(public)), "kid": "activation-demo"}]})


def install_secrets(path):
    """
    Random secrets made on this install's first start and kept in ``path`` (git ignores it): every
    process of the install signs and verifies with the same ones, and no other install knows them.
    The file is created exclusively, so two processes starting at once agree on one set.
    """
    made = {"SECRET_KEY": secrets.token_urlsafe(48), "JWT_SECRET_KEY": secrets.token_urlsafe(48)}
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return json.loads(path.read_text(encoding="utf-8"))
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(made, handle)
    return made
