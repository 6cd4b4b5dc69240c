"""The matcher's tables, for the database backend (`db_store`): derived data, rebuildable.

similarity_generation   one row per fitted vocabulary (the newest is current); `version`
                        goes up with every change, so readers on any node see it
similarity_vocabulary   the generation's terms in column order and their idf
similarity_vector       per bid: its whole TF-IDF row, MinHash signature, owner, public flag
similarity_term         per bid and term of that row: the weight (candidates by term)
similarity_change       per change of the generation (its `version`): the bids it touched,
                        so a process that kept pairs can tell what moved since it looked
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import REAL, Boolean, DateTime, Index, Integer, LargeBinary, Text
from sqlalchemy.orm import Mapped, mapped_column

from bids.database import Model, utcnow


class SimilarityGeneration(Model):
    __tablename__ = "similarity_generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    built_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0)
    bids: Mapped[int] = mapped_column(Integer, default=0)  # bids the vocabulary was fitted on
    terms: Mapped[int] = mapped_column(Integer, default=0)


class SimilarityVocabulary(Model):
    __tablename__ = "similarity_vocabulary"

    generation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the column
    term: Mapped[str] = mapped_column(Text)
    idf: Mapped[float] = mapped_column(REAL)


class SimilarityVector(Model):
    """One bid's row. No foreign key: a deleted bid's row goes when its outbox row is applied."""

    __tablename__ = "similarity_vector"
    # Who may see each row, narrow: the candidates' query joins its scores to this index
    # instead of scanning the wide rows (at 42k: 58 ms a query down to 14).
    __table_args__ = (
        Index(
            "ix_similarity_vector_visible", "generation_id", "bid_id", "public", "organisation_id"
        ),
    )

    bid_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation_id: Mapped[int] = mapped_column(Integer)
    organisation_id: Mapped[int] = mapped_column(Integer)
    public: Mapped[bool] = mapped_column(Boolean)
    # Written by a refit (in the vocabulary) or by a change since (words new since the fit
    # count for nothing until the next refit).
    fitted: Mapped[bool] = mapped_column(Boolean)
    columns: Mapped[bytes] = mapped_column(LargeBinary)  # int32 little-endian, ascending
    weights: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, L2-normalised
    signature: Mapped[bytes] = mapped_column(LargeBinary)  # SIGNATURE_SIZE uint32


class SimilarityTerm(Model):
    """The postings: every term of every stored row, found by term."""

    __tablename__ = "similarity_term"
    __table_args__ = (Index("ix_similarity_term_bid_id", "bid_id"),)

    term_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bid_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    weight: Mapped[float] = mapped_column(REAL)


class SimilarityChange(Model):
    """The bids each change of the current generation touched (a refit empties it)."""

    __tablename__ = "similarity_change"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bid_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
