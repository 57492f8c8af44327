"""The search index as a nameko dependency: opened once per container from SEARCH_INDEX_URL."""

import os

from nameko.extensions import DependencyProvider

from crm_common.config import data_dir
from crm_common.search_index import SearchIndex, open_search_index


def search_index_url() -> str:
    return os.environ.get("SEARCH_INDEX_URL") or f"sqlite:///{os.path.join(data_dir(), 'search-index.db')}"


class Index(DependencyProvider):
    def setup(self) -> None:
        self.index: SearchIndex = open_search_index(search_index_url())

    def stop(self) -> None:
        self.index.close()

    def get_dependency(self, worker_ctx) -> SearchIndex:
        return self.index
