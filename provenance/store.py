"""Manifest store: watermark ID -> signed manifest, for soft-binding resolution (durable credentials).

SQLite by default; any SQLAlchemy URL (PostgreSQL) works unchanged.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import DateTime, LargeBinary, String, Text, create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from provenance.errors import ProvenanceError


class _Base(DeclarativeBase):
    pass


class _ManifestRow(_Base):
    __tablename__ = "manifests"

    watermark_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(512))
    asset_sha256: Mapped[str] = mapped_column(String(64))
    manifest_json: Mapped[str] = mapped_column(Text)
    manifest_store: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class StoredManifest:
    watermark_id: str
    title: str
    asset_sha256: str
    manifest_json: str
    manifest_store: bytes
    created_at: datetime.datetime


class ManifestStore:
    """put() once per generation (IDs are never overwritten); get() by watermark ID."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        _Base.metadata.create_all(self.engine)

    @classmethod
    def sqlite(cls, path) -> ManifestStore:
        return cls(f"sqlite:///{path}")

    def put(
        self, watermark_id: str, *, title: str, asset_sha256: str, manifest_json: str, manifest_store: bytes
    ) -> None:
        row = _ManifestRow(
            watermark_id=watermark_id,
            title=title,
            asset_sha256=asset_sha256,
            manifest_json=manifest_json,
            manifest_store=manifest_store,
            created_at=datetime.datetime.now(datetime.UTC),
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
        except IntegrityError as err:
            raise ProvenanceError(f"a manifest for watermark ID {watermark_id} is already stored") from err

    def get(self, watermark_id: str) -> StoredManifest | None:
        with Session(self.engine) as session:
            row = session.scalars(select(_ManifestRow).where(_ManifestRow.watermark_id == watermark_id)).first()
            if row is None:
                return None
            return StoredManifest(
                row.watermark_id, row.title, row.asset_sha256, row.manifest_json, row.manifest_store, row.created_at
            )

    def __len__(self) -> int:
        with Session(self.engine) as session:
            return len(session.scalars(select(_ManifestRow.watermark_id)).all())
