"""Duplicate prevention and merge of companies and contacts (helper A replaces this placeholder)."""


class MatchingRpc:
    def _refuse_duplicates(self, tx, subject_type: str, record: dict) -> None:
        return None

    def _index_match_keys(self, tx, subject_type: str, record: dict) -> None:
        return None

    def _drop_match_keys(self, tx, subject_type: str, record_id: str) -> None:
        return None

    def _duplicates_of(self, tx, subject_type: str, fields: dict, limit: int = 10) -> list[dict]:
        return []
