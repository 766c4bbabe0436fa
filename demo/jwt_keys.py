"""RSA signing keys for the demo host's JWTs, in the JWK form the LMS's JWT_AUTH settings use."""
import json

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
