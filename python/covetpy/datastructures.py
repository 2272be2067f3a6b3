"""Values handlers receive that are not plain types: uploaded files."""

from __future__ import annotations

from typing import IO, Any

__all__ = ["UploadFile"]


class UploadFile:
    """A file from a `multipart/form-data` body. Small files stay in memory; larger ones
    (over `SPOOL_LIMIT`, 1 MiB) were written to a temporary file while the body was parsed."""

    SPOOL_LIMIT = 1024 * 1024

    def __init__(
        self, file: IO[bytes], filename: str | None, content_type: str | None, size: int
    ) -> None:
        self.file = file
        self.filename = filename
        self.content_type = content_type
        self.size = size

    @property
    def in_memory(self) -> bool:
        """Whether the content is held in memory (not spooled to disk)."""
        return not hasattr(self.file, "fileno") or _is_bytesio(self.file)

    def read_bytes(self, size: int = -1) -> bytes:
        """Reads synchronously (the data is already local: memory or a temp file)."""
        return self.file.read(size)

    async def read(self, size: int = -1) -> bytes:
        """Reads `size` bytes (all by default)."""
        return self.file.read(size)

    async def seek(self, offset: int) -> None:
        """Moves the read position."""
        self.file.seek(offset)

    async def close(self) -> None:
        """Releases the memory or temporary file."""
        self.file.close()

    def __repr__(self) -> str:
        return f"UploadFile({self.filename!r}, {self.content_type!r}, size={self.size})"


def _is_bytesio(f: Any) -> bool:
    import io

    return isinstance(f, io.BytesIO)
