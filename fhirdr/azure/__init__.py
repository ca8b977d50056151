"""Azure access in one place: credential, cloud, transport, retry settings and SDK clients."""
