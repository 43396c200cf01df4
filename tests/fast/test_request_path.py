"""The real-server tier's request-path tests, run in process on SQLite (tests/fast/conftest.py
provides their fixtures): the same bodies, the same oracle, in seconds."""

from __future__ import annotations

from test_access import (  # noqa: F401
    test_a_refused_key_is_told_exactly_why,
    test_a_valid_key_gets_a_private_answer,
    test_an_allowed_origin_may_read_the_tag_and_the_retry_delay,
    test_an_answer_already_given_still_needs_the_key,
    test_cors_headers_are_on_error_responses_too,
    test_cors_ignores_other_origins,
    test_cors_preflight_and_response_for_an_allowed_origin,
    test_data_routes_need_a_valid_key,
    test_off_by_default,
    test_openapi_marks_data_routes_as_secured,
    test_service_routes_stay_open,
    test_the_preflight_says_what_is_allowed,
    test_whitespace_after_the_key_is_not_part_of_it,
)
from test_caching import (  # noqa: F401
    test_200_carries_a_strong_etag_and_cache_headers,
    test_a_stale_tag_gets_the_full_answer,
    test_csv_cells_are_the_oracles_values,
    test_csv_matches_the_oracle,
    test_every_representation_has_its_own_tag,
    test_format_wins_over_accept,
    test_if_none_match_answers_304,
    test_no_accept_header_is_json,
    test_unknown_format_is_a_400,
)
from test_errors import (  # noqa: F401
    test_bad_request_is_a_problem,
    test_oversized_body_is_a_problem,
    test_problem_names_the_parameter,
    test_wrong_method_is_a_problem,
)
from test_exact_answers import (  # noqa: F401
    test_each_problem_says_exactly_what_was_wrong,
    test_each_service_route_says_what_it_sends,
    test_openapi_parameters_say_what_the_service_checks,
    test_plain_http_errors_are_about_blank_problems,
    test_the_csv_example_is_the_json_example_as_csv,
    test_the_index_lists_every_route_it_serves,
    test_the_service_routes_answer_as_documented,
    test_the_tag_is_the_data_version_and_a_hash_of_the_exact_bytes,
)
from test_observability import (  # noqa: F401
    test_every_line_is_json_and_each_request_logs_one_access_line,
    test_metrics_are_prometheus_text_counting_every_request,
    test_no_query_string_path_or_secret_is_logged,
    test_request_id_is_echoed_when_valid_else_replaced,
    test_what_sanic_refuses_is_logged_and_tagged_too,
)
from test_openapi import (  # noqa: F401
    test_an_unknown_docs_asset_is_a_404_problem,
    test_docs_page_is_self_contained,
    test_document_is_openapi_3_1,
    test_every_catalog_entry_is_documented,
    test_real_responses_validate_against_the_document,
)
from test_resilience import (  # noqa: F401
    test_a_slow_client_times_out_without_holding_up_others,
    test_abusive_input_is_a_4xx_problem_and_serving_goes_on,
    test_sql_injection_left_the_reviews_in_place,
)
from test_service import test_index_lists_the_catalog, test_liveness_and_readiness  # noqa: F401
from test_summaries import (  # noqa: F401
    test_awkward_ids_round_trip,
    test_field_order_is_the_documented_one,
    test_known_id_with_empty_period_is_200_with_zeros,
    test_rules_on_edge_cases,
    test_summary_matches_oracle,
)
