"""The normalized game model, written only by the processor (:mod:`sts.services.processor`).

Revision ID: 0002_normalized
Revises: 0001_event_bus

Tables (natural keys from the feed, so a rebuild from the same events gives the same rows):

- ``teams``, ``venues``, ``people``   reference data from GameInfo events. Several games describe the
                              same player or team; the description from the latest game (by
                              ``source_date``, then ``source_game_pk``) wins, whatever the order
                              in which games are processed.
- ``games``                   one row per gamePk: teams, venue, date, type, status, score.
- ``game_status_history``     each distinct status of a game with the earliest timecode it was seen.
- ``plays``                   one row per plate appearance (game_pk, at_bat_index); ``revision``
                              counts content changes (challenges, scorer's changes) and
                              ``revised_timecode`` is the snapshot that brought the current one
                              (NULL for revision 1, so rebuilds compare equal).
- ``play_events``             pitches and other play events (game_pk, at_bat_index, event_index).
- ``runners``                 runner movements (game_pk, at_bat_index, runner_index).
- ``fielding_credits``        fielders' credits on a movement (…, runner_index, credit_index).
- ``substitutions``           substitution actions (game_pk, at_bat_index, event_index).
- ``linescore_innings``       the official line score by inning (from GameFinal).
- ``box_lines``               official per-player lines (main counting columns + the whole jsonb).
- ``team_box_lines``          official team totals.
- ``decisions``               winning, losing and saving pitchers.
- ``processed_events``        every event id applied (dedup and audit).

Fields the columns do not model are kept in ``extra`` jsonb columns.
"""

from alembic import op

revision = "0002_normalized"
down_revision = "0001_event_bus"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE venues (
    venue_id     bigint PRIMARY KEY,
    name         text,
    city         text,
    state        text,
    country      text,
    timezone     text,
    extra        jsonb,
    source_date       date,
    source_game_pk    bigint
);

CREATE TABLE teams (
    team_id        bigint PRIMARY KEY,
    name           text,
    abbreviation   text,
    team_name      text,
    location_name  text,
    short_name     text,
    league_id      bigint,
    league_name    text,
    division_id    bigint,
    division_name  text,
    venue_id       bigint,
    extra          jsonb,
    source_date       date,
    source_game_pk    bigint
);

CREATE TABLE people (
    person_id         bigint PRIMARY KEY,
    full_name         text,
    first_name        text,
    last_name         text,
    boxscore_name     text,
    primary_number    text,
    birth_date        date,
    bats              text,
    throws            text,
    primary_position  text,
    extra             jsonb,
    source_date       date,
    source_game_pk    bigint
);
CREATE INDEX people_full_name_idx ON people (lower(full_name));

CREATE TABLE games (
    game_pk             bigint PRIMARY KEY,
    season              text,
    game_type           text,
    official_date       date,
    game_datetime       timestamptz,
    double_header       text,
    game_number         integer,
    day_night           text,
    scheduled_innings   integer,
    gameday_id          text,
    away_team_id        bigint REFERENCES teams,
    home_team_id        bigint REFERENCES teams,
    venue_id            bigint REFERENCES venues,
    abstract_state      text,
    coded_state         text,
    detailed_state      text,
    status_code         text,
    away_score          integer,
    home_score          integer,
    score_at_bat_index  integer,
    innings_played      integer,
    is_final            boolean NOT NULL DEFAULT false,
    latest_timecode     text,
    info_extra          jsonb,
    final_extra         jsonb
);
CREATE INDEX games_date_idx ON games (official_date, game_pk);
CREATE INDEX games_season_type_idx ON games (season, game_type);
CREATE INDEX games_away_team_idx ON games (away_team_id);
CREATE INDEX games_home_team_idx ON games (home_team_id);

CREATE TABLE game_status_history (
    game_pk          bigint NOT NULL REFERENCES games ON DELETE CASCADE,
    abstract_state   text NOT NULL,
    coded_state      text NOT NULL,
    detailed_state   text NOT NULL,
    status_code      text,
    first_timecode   text,
    PRIMARY KEY (game_pk, abstract_state, coded_state, detailed_state)
);

CREATE TABLE plays (
    game_pk            bigint NOT NULL REFERENCES games ON DELETE CASCADE,
    at_bat_index       integer NOT NULL,
    inning             integer,
    half_inning        text,
    is_top_inning      boolean,
    start_time         timestamptz,
    end_time           timestamptz,
    is_complete        boolean,
    is_scoring_play    boolean,
    has_review         boolean,
    has_out            boolean,
    captivating_index  integer,
    result_type        text,
    event              text,
    event_type         text,
    description        text,
    rbi                integer,
    away_score         integer,
    home_score         integer,
    is_out             boolean,
    balls              integer,
    strikes            integer,
    outs               integer,
    batter_id          bigint,
    bat_side           text,
    pitcher_id         bigint,
    pitch_hand         text,
    batter_split       text,
    pitcher_split      text,
    men_on_base        text,
    post_on_first_id   bigint,
    post_on_second_id  bigint,
    post_on_third_id   bigint,
    review_details     jsonb,
    extra              jsonb,
    content_hash       text NOT NULL,
    revision           integer NOT NULL DEFAULT 1,
    revised_timecode   text,
    PRIMARY KEY (game_pk, at_bat_index)
);
CREATE INDEX plays_batter_idx ON plays (batter_id);
CREATE INDEX plays_pitcher_idx ON plays (pitcher_id);
CREATE INDEX plays_event_type_idx ON plays (event_type);

CREATE TABLE play_events (
    game_pk                 bigint NOT NULL REFERENCES games ON DELETE CASCADE,
    at_bat_index            integer NOT NULL,
    event_index             integer NOT NULL,
    inning                  integer,
    half_inning             text,
    type                    text,
    is_pitch                boolean,
    is_substitution         boolean,
    play_id                 text,
    pitch_number            integer,
    start_time              timestamptz,
    end_time                timestamptz,
    player_id               bigint,
    event                   text,
    event_type              text,
    description             text,
    code                    text,
    call_code               text,
    call_description        text,
    pitch_type_code         text,
    pitch_type_description  text,
    is_in_play              boolean,
    is_strike               boolean,
    is_ball                 boolean,
    is_out                  boolean,
    has_review              boolean,
    balls                   integer,
    strikes                 integer,
    outs                    integer,
    start_speed             double precision,
    end_speed               double precision,
    strike_zone_top         double precision,
    strike_zone_bottom      double precision,
    zone                    integer,
    type_confidence         double precision,
    plate_time              double precision,
    extension               double precision,
    px                      double precision,
    pz                      double precision,
    pfx_x                   double precision,
    pfx_z                   double precision,
    x                       double precision,
    y                       double precision,
    x0                      double precision,
    y0                      double precision,
    z0                      double precision,
    vx0                     double precision,
    vy0                     double precision,
    vz0                     double precision,
    ax                      double precision,
    ay                      double precision,
    az                      double precision,
    break_angle             double precision,
    break_length            double precision,
    break_y                 double precision,
    break_vertical          double precision,
    break_vertical_induced  double precision,
    break_horizontal        double precision,
    spin_rate               double precision,
    spin_direction          double precision,
    launch_speed            double precision,
    launch_angle            double precision,
    total_distance          double precision,
    trajectory              text,
    hardness                text,
    location                text,
    hit_coord_x             double precision,
    hit_coord_y             double precision,
    extra                   jsonb,
    PRIMARY KEY (game_pk, at_bat_index, event_index)
);
CREATE INDEX play_events_pitches_idx ON play_events (game_pk) WHERE is_pitch;
CREATE INDEX play_events_play_id_idx ON play_events (play_id) WHERE play_id IS NOT NULL;
CREATE INDEX play_events_pitch_type_idx ON play_events (pitch_type_code) WHERE is_pitch;

CREATE TABLE runners (
    game_pk                 bigint NOT NULL,
    at_bat_index            integer NOT NULL,
    runner_index            integer NOT NULL,
    runner_id               bigint,
    origin_base             text,
    start_base              text,
    end_base                text,
    out_base                text,
    is_out                  boolean,
    out_number              integer,
    event                   text,
    event_type              text,
    movement_reason         text,
    responsible_pitcher_id  bigint,
    is_scoring_event        boolean,
    rbi                     boolean,
    earned                  boolean,
    team_unearned           boolean,
    play_index              integer,
    extra                   jsonb,
    PRIMARY KEY (game_pk, at_bat_index, runner_index),
    FOREIGN KEY (game_pk, at_bat_index) REFERENCES plays ON DELETE CASCADE
);
CREATE INDEX runners_runner_idx ON runners (runner_id);

CREATE TABLE fielding_credits (
    game_pk                bigint NOT NULL,
    at_bat_index           integer NOT NULL,
    runner_index           integer NOT NULL,
    credit_index           integer NOT NULL,
    player_id              bigint,
    position_code          text,
    position_abbreviation  text,
    credit                 text,
    PRIMARY KEY (game_pk, at_bat_index, runner_index, credit_index),
    FOREIGN KEY (game_pk, at_bat_index) REFERENCES plays ON DELETE CASCADE
);
CREATE INDEX fielding_credits_player_idx ON fielding_credits (player_id);

CREATE TABLE substitutions (
    game_pk                bigint NOT NULL REFERENCES games ON DELETE CASCADE,
    at_bat_index           integer NOT NULL,
    event_index            integer NOT NULL,
    inning                 integer,
    half_inning            text,
    substitution_type      text,
    event                  text,
    description            text,
    team_id                bigint,
    player_id              bigint,
    replaced_player_id     bigint,
    position_code          text,
    position_abbreviation  text,
    batting_order          text,
    base                   integer,
    start_time             timestamptz,
    extra                  jsonb,
    PRIMARY KEY (game_pk, at_bat_index, event_index)
);
CREATE INDEX substitutions_player_idx ON substitutions (player_id);

CREATE TABLE linescore_innings (
    game_pk            bigint NOT NULL REFERENCES games ON DELETE CASCADE,
    inning             integer NOT NULL,
    away_runs          integer,
    away_hits          integer,
    away_errors        integer,
    away_left_on_base  integer,
    home_runs          integer,
    home_hits          integer,
    home_errors        integer,
    home_left_on_base  integer,
    PRIMARY KEY (game_pk, inning)
);

CREATE TABLE box_lines (
    game_pk             bigint NOT NULL REFERENCES games ON DELETE CASCADE,
    person_id           bigint NOT NULL,
    side                text NOT NULL,
    team_id             bigint,
    jersey_number       text,
    position            text,
    batting_order       text,
    is_substitute       boolean,
    at_bats             integer,
    runs                integer,
    hits                integer,
    doubles             integer,
    triples             integer,
    home_runs           integer,
    rbi                 integer,
    base_on_balls       integer,
    strike_outs         integer,
    stolen_bases        integer,
    plate_appearances   integer,
    pitching_outs       integer,
    innings_pitched     text,
    batters_faced       integer,
    pitches_thrown      integer,
    hits_allowed        integer,
    runs_allowed        integer,
    earned_runs         integer,
    walks_allowed       integer,
    strikeouts_pitched  integer,
    home_runs_allowed   integer,
    put_outs            integer,
    assists             integer,
    errors              integer,
    batting             jsonb NOT NULL DEFAULT '{}',
    pitching            jsonb NOT NULL DEFAULT '{}',
    fielding            jsonb NOT NULL DEFAULT '{}',
    extra               jsonb,
    PRIMARY KEY (game_pk, person_id)
);
CREATE INDEX box_lines_person_idx ON box_lines (person_id);

CREATE TABLE team_box_lines (
    game_pk       bigint NOT NULL REFERENCES games ON DELETE CASCADE,
    side          text NOT NULL,
    team_id       bigint,
    runs          integer,
    hits          integer,
    errors        integer,
    left_on_base  integer,
    batting       jsonb NOT NULL DEFAULT '{}',
    pitching      jsonb NOT NULL DEFAULT '{}',
    fielding      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (game_pk, side)
);

CREATE TABLE decisions (
    game_pk    bigint PRIMARY KEY REFERENCES games ON DELETE CASCADE,
    winner_id  bigint,
    loser_id   bigint,
    save_id    bigint
);

CREATE TABLE processed_events (
    event_id      uuid PRIMARY KEY,
    game_pk       bigint NOT NULL,
    event_type    text NOT NULL,
    timecode      text,
    processed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processed_events_game_idx ON processed_events (game_pk, event_type);
"""

TABLES = (
    "processed_events", "decisions", "team_box_lines", "box_lines", "linescore_innings",
    "substitutions", "fielding_credits", "runners", "play_events", "plays", "game_status_history",
    "games", "people", "teams", "venues",
)  # fmt: skip


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("".join(f"DROP TABLE IF EXISTS {t};\n" for t in TABLES))
