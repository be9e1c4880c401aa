"""Column lists of the normalized tables (migration ``0002_normalized``), in insert order.

Each list holds ``(column, SQL cast or "")``; the first columns are the table's key. Used by
:mod:`sts.db.normalized` to build its upserts.
"""

from __future__ import annotations

TS, JSON, DATE = "timestamptz", "jsonb", "date"

PE_COLS: list[tuple[str, str]] = [
    ("game_pk", ""), ("at_bat_index", ""), ("event_index", ""), ("inning", ""), ("half_inning", ""),
    ("type", ""), ("is_pitch", ""), ("is_substitution", ""), ("play_id", ""), ("pitch_number", ""),
    ("start_time", TS), ("end_time", TS), ("player_id", ""), ("event", ""), ("event_type", ""),
    ("description", ""), ("code", ""), ("call_code", ""), ("call_description", ""),
    ("pitch_type_code", ""), ("pitch_type_description", ""), ("is_in_play", ""), ("is_strike", ""),
    ("is_ball", ""), ("is_out", ""), ("has_review", ""), ("balls", ""), ("strikes", ""), ("outs", ""),
    *((c, "") for c in (
        "start_speed", "end_speed", "strike_zone_top", "strike_zone_bottom", "zone", "type_confidence",
        "plate_time", "extension", "px", "pz", "pfx_x", "pfx_z", "x", "y", "x0", "y0", "z0", "vx0",
        "vy0", "vz0", "ax", "ay", "az", "break_angle", "break_length", "break_y", "break_vertical",
        "break_vertical_induced", "break_horizontal", "spin_rate", "spin_direction", "launch_speed",
        "launch_angle", "total_distance", "trajectory", "hardness", "location", "hit_coord_x",
        "hit_coord_y",
    )),
    ("extra", JSON),
]  # fmt: skip
PLAY_COLS: list[tuple[str, str]] = [
    ("game_pk", ""), ("at_bat_index", ""), ("inning", ""), ("half_inning", ""), ("is_top_inning", ""),
    ("start_time", TS), ("end_time", TS),
    *((c, "") for c in (
        "is_complete", "is_scoring_play", "has_review", "has_out", "captivating_index", "result_type",
        "event", "event_type", "description", "rbi", "away_score", "home_score", "is_out", "balls",
        "strikes", "outs", "batter_id", "bat_side", "pitcher_id", "pitch_hand", "batter_split",
        "pitcher_split", "men_on_base", "post_on_first_id", "post_on_second_id", "post_on_third_id",
    )),
    ("review_details", JSON), ("extra", JSON), ("content_hash", ""),
]  # fmt: skip
RUNNER_COLS = [
    (c, JSON if c == "extra" else "")
    for c in (
        "game_pk", "at_bat_index", "runner_index", "runner_id", "origin_base", "start_base", "end_base",
        "out_base", "is_out", "out_number", "event", "event_type", "movement_reason",
        "responsible_pitcher_id", "is_scoring_event", "rbi", "earned", "team_unearned", "play_index",
        "extra",
    )
]  # fmt: skip
CREDIT_COLS = [
    (c, "")
    for c in (
        "game_pk", "at_bat_index", "runner_index", "credit_index", "player_id", "position_code",
        "position_abbreviation", "credit",
    )
]  # fmt: skip
SUB_COLS = [
    ("game_pk", ""), ("at_bat_index", ""), ("event_index", ""), ("inning", ""), ("half_inning", ""),
    ("substitution_type", ""), ("event", ""), ("description", ""), ("team_id", ""), ("player_id", ""),
    ("replaced_player_id", ""), ("position_code", ""), ("position_abbreviation", ""),
    ("batting_order", ""), ("base", ""), ("start_time", TS), ("extra", JSON),
]  # fmt: skip
SOURCE_COLS = [("source_date", DATE), ("source_game_pk", "")]
VENUE_COLS = [(c, JSON if c == "extra" else "") for c in (
    "venue_id", "name", "city", "state", "country", "timezone", "extra")] + SOURCE_COLS  # fmt: skip
TEAM_COLS = [(c, JSON if c == "extra" else "") for c in (
    "team_id", "name", "abbreviation", "team_name", "location_name", "short_name", "league_id",
    "league_name", "division_id", "division_name", "venue_id", "extra")] + SOURCE_COLS  # fmt: skip
PERSON_COLS = [(c, JSON if c == "extra" else DATE if c == "birth_date" else "") for c in (
    "person_id", "full_name", "first_name", "last_name", "boxscore_name", "primary_number",
    "birth_date", "bats", "throws", "primary_position", "extra")] + SOURCE_COLS  # fmt: skip
GAME_INFO_COLS = [
    ("game_pk", ""), ("season", ""), ("game_type", ""), ("official_date", DATE), ("game_datetime", TS),
    ("double_header", ""), ("game_number", ""), ("day_night", ""), ("scheduled_innings", ""),
    ("gameday_id", ""), ("away_team_id", ""), ("home_team_id", ""), ("venue_id", ""),
    ("info_extra", JSON),
]  # fmt: skip
INNING_COLS = [(c, "") for c in (
    "game_pk", "inning", "away_runs", "away_hits", "away_errors", "away_left_on_base", "home_runs",
    "home_hits", "home_errors", "home_left_on_base")]  # fmt: skip
TEAM_BOX_COLS = [(c, JSON if c in ("batting", "pitching", "fielding") else "") for c in (
    "game_pk", "side", "team_id", "runs", "hits", "errors", "left_on_base", "batting", "pitching",
    "fielding")]  # fmt: skip
# box line column → (stats group, stat name)
BOX_MAIN: dict[str, tuple[str, str]] = {
    "at_bats": ("batting", "atBats"), "runs": ("batting", "runs"), "hits": ("batting", "hits"),
    "doubles": ("batting", "doubles"), "triples": ("batting", "triples"),
    "home_runs": ("batting", "homeRuns"), "rbi": ("batting", "rbi"),
    "base_on_balls": ("batting", "baseOnBalls"), "strike_outs": ("batting", "strikeOuts"),
    "stolen_bases": ("batting", "stolenBases"), "plate_appearances": ("batting", "plateAppearances"),
    "pitching_outs": ("pitching", "outs"), "innings_pitched": ("pitching", "inningsPitched"),
    "batters_faced": ("pitching", "battersFaced"), "pitches_thrown": ("pitching", "numberOfPitches"),
    "hits_allowed": ("pitching", "hits"), "runs_allowed": ("pitching", "runs"),
    "earned_runs": ("pitching", "earnedRuns"), "walks_allowed": ("pitching", "baseOnBalls"),
    "strikeouts_pitched": ("pitching", "strikeOuts"), "home_runs_allowed": ("pitching", "homeRuns"),
    "put_outs": ("fielding", "putOuts"), "assists": ("fielding", "assists"),
    "errors": ("fielding", "errors"),
}  # fmt: skip
BOX_COLS = [
    ("game_pk", ""), ("person_id", ""), ("side", ""), ("team_id", ""), ("jersey_number", ""),
    ("position", ""), ("batting_order", ""), ("is_substitute", ""),
    *((c, "") for c in BOX_MAIN),
    ("batting", JSON), ("pitching", JSON), ("fielding", JSON), ("extra", JSON),
]  # fmt: skip
