"""Pure protocol code: vocabulary builders, keys, content negotiation rules. No I/O."""
