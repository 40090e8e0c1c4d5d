"""fedi-forum: a federated discussion server where every discussion is an ActivityPub Group."""

__version__ = "0.1.0"
