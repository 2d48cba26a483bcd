"""The evaluation searches one query at a time with one intra-op thread, then gives them back."""

from __future__ import annotations

import faiss
import torch

from evaluation.runner import one_thread_per_query


def test_experiments_search_with_one_thread_and_restore_the_count_after():
    torch_before, faiss_before = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(2)
    faiss.omp_set_num_threads(2)
    try:
        with one_thread_per_query():
            assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (1, 1)
        assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (2, 2)
    finally:
        torch.set_num_threads(torch_before)
        faiss.omp_set_num_threads(faiss_before)


def test_threads_come_back_when_an_experiment_fails():
    torch_before, faiss_before = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(2)
    faiss.omp_set_num_threads(2)
    try:
        with one_thread_per_query():
            raise RuntimeError("experiment failed")
    except RuntimeError:
        assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (2, 2)
    finally:
        torch.set_num_threads(torch_before)
        faiss.omp_set_num_threads(faiss_before)
