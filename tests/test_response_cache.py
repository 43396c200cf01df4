"""The response cache's own rules: bounds, recency, generations, on and off."""

from __future__ import annotations

from service.http.response_cache import ENTRY_OVERHEAD_BYTES, CachedAnswer, ResponseCache


def summary(size: int = 100) -> CachedAnswer:
    return CachedAnswer(b"x" * size, "application/json", '"1-abc"')


def serving_cache(max_entries: int = 3, max_bytes: int = 1_000_000) -> ResponseCache:
    cache = ResponseCache(max_entries, max_bytes)
    cache.start()
    return cache


def test_a_stored_answer_is_served_and_counted() -> None:
    cache = serving_cache()
    assert cache.get("a") is None
    cache.put("a", summary(), cache.generation)
    assert cache.get("a") == summary()
    assert (cache.hits, cache.misses) == (1, 1)


def test_the_least_recently_used_entry_goes_first_when_full() -> None:
    cache = serving_cache(max_entries=2)
    cache.put("a", summary(), cache.generation)
    cache.put("b", summary(), cache.generation)
    cache.get("a")  # now b is the least recently used
    cache.put("c", summary(), cache.generation)
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None


def test_bytes_are_bounded_too() -> None:
    entry_size = summary(1000).size
    cache = serving_cache(max_entries=100, max_bytes=3 * entry_size)
    for key in "abcde":
        cache.put(key, summary(1000), cache.generation)
    assert len(cache) == 3
    assert cache.bytes == 3 * entry_size <= cache.max_bytes
    assert entry_size == 1000 + len('"1-abc"') + ENTRY_OVERHEAD_BYTES


def test_an_answer_larger_than_the_whole_cache_is_not_kept() -> None:
    cache = serving_cache(max_bytes=500)
    cache.put("a", summary(1000), cache.generation)
    assert len(cache) == 0 and cache.bytes == 0


def test_replacing_an_entry_keeps_the_byte_count_right() -> None:
    cache = serving_cache()
    cache.put("a", summary(100), cache.generation)
    cache.put("a", summary(300), cache.generation)
    assert cache.bytes == summary(300).size


def test_an_answer_read_before_a_new_version_is_not_stored_after_it() -> None:
    cache = serving_cache()
    generation = cache.generation  # a request reads the old data...
    cache.start()  # ...a load is notified meanwhile...
    cache.put("a", summary(), generation)  # ...the old answer must not be kept
    assert cache.get("a") is None


def test_a_new_version_empties_the_cache() -> None:
    cache = serving_cache()
    cache.put("a", summary(), cache.generation)
    cache.start()
    assert len(cache) == 0 and cache.bytes == 0 and cache.get("a") is None


def test_stopped_it_neither_serves_nor_stores() -> None:
    cache = serving_cache()
    cache.put("a", summary(), cache.generation)
    cache.stop()
    cache.put("b", summary(), cache.generation)
    assert cache.get("a") is None and cache.get("b") is None and len(cache) == 0
    assert (cache.hits, cache.misses) == (0, 0)  # no lookups while off


def test_zero_entries_switches_it_off() -> None:
    cache = ResponseCache(0, 1_000_000)
    cache.start()
    cache.put("a", summary(), cache.generation)
    assert not cache.serving and cache.get("a") is None


def test_one_entry_is_a_cache_too() -> None:
    cache = serving_cache(max_entries=1)
    assert cache.serving
    cache.put("a", summary(), cache.generation)
    assert cache.get("a") == summary()


def test_an_answer_the_size_of_the_whole_cache_is_kept() -> None:
    cache = serving_cache(max_bytes=summary(1000).size)
    cache.put("a", summary(1000), cache.generation)
    assert len(cache) == 1 and cache.bytes == cache.max_bytes


def test_a_not_found_answer_costs_its_detail() -> None:
    not_found = CachedAnswer(None, "", "", not_found_detail="no reviews at all for 'x'")
    assert not_found.size == len("no reviews at all for 'x'") + ENTRY_OVERHEAD_BYTES
    cache = serving_cache()
    cache.put("x", not_found, cache.generation)
    assert cache.get("x") == not_found and cache.bytes == not_found.size
