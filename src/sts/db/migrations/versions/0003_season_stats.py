"""Season statistics: constants, park factors, the ID crosswalk, season lines, derived game lines.

Revision ID: 0003_season_stats
Revises: 0002_normalized

Tables (written by :mod:`sts.services.season_stats` and :mod:`sts.stats.lahman`):

- ``stat_constants``     FanGraphs Guts wOBA/FIP constants per season, *versioned*: loading numbers that
                         differ from the latest version of a season adds version + 1; readers use the
                         highest version (``stat_constants_latest`` view).
- ``park_factors``       FanGraphs park factors per season and team (FanGraphs' team nickname), versioned
                         the same way (``park_factors_latest``).
- ``player_ids``         the crosswalk MLBAM / Retrosheet / Lahman / Baseball-Reference / FanGraphs;
                         ``source`` says where a row came from and ``unmatched`` flags a player the
                         Chadwick extract does not know: a Lahman player keeps his Lahman id (no MLBAM
                         id), a player first seen in a game feed keeps his MLBAM id (no Lahman id).
- ``season_batting``, ``season_pitching``, ``season_fielding``
                         one row per player, season, team and stint (Lahman) from ``source``
                         'lahman' | 'statsapi' | 'retrosheet'. ``player_key`` is the source's own id
                         (Lahman playerID, or the MLBAM id as text). Career = the sum over seasons.
- ``season_teams``       one row per team and season: games, W/L, batting and pitching totals.
- ``derived_box_lines``  our engine's per-player line for each final game (MLB stat names in jsonb).
- ``derived_pa``         one row per plate appearance of a final game with the split keys (pitcher
                         hand, batter side, home/away, RISP, month): splits are GROUP BY queries over it.
- ``box_quality``        per game: values matched out of compared, and every mismatch (never corrected).
"""

from alembic import op

revision = "0003_season_stats"
down_revision = "0002_normalized"
branch_labels = None
depends_on = None

_BAT = """
    g integer, pa integer, ab integer, r integer, h integer, doubles integer, triples integer,
    hr integer, rbi integer, sb integer, cs integer, bb integer, ibb integer, so integer,
    hbp integer, sh integer, sf integer, gidp integer, ci integer"""

_PIT = """
    g integer, gs integer, w integer, l integer, sv integer, hld integer, bs integer, cg integer,
    sho integer, gf integer, outs integer, bf integer, h integer, r integer, er integer, hr integer,
    bb integer, ibb integer, so integer, hbp integer, wp integer, bk integer, sh integer, sf integer,
    gidp integer"""

UPGRADE = f"""
CREATE TABLE stat_constants (
    season      integer NOT NULL,
    version     integer NOT NULL,
    source      text NOT NULL,
    woba        double precision NOT NULL,
    woba_scale  double precision NOT NULL,
    w_bb        double precision NOT NULL,
    w_hbp       double precision NOT NULL,
    w_1b        double precision NOT NULL,
    w_2b        double precision NOT NULL,
    w_3b        double precision NOT NULL,
    w_hr        double precision NOT NULL,
    run_sb      double precision NOT NULL,
    run_cs      double precision NOT NULL,
    r_pa        double precision NOT NULL,
    r_w         double precision NOT NULL,
    c_fip       double precision NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (season, version)
);
CREATE VIEW stat_constants_latest AS
    SELECT DISTINCT ON (season) * FROM stat_constants ORDER BY season, version DESC;

CREATE TABLE park_factors (
    season      integer NOT NULL,
    team        text NOT NULL,
    version     integer NOT NULL,
    source      text NOT NULL,
    basic       integer NOT NULL,
    three_yr    integer, one_yr integer,
    f_1b integer, f_2b integer, f_3b integer, f_hr integer, f_so integer, f_bb integer,
    f_gb integer, f_fb integer, f_ld integer, f_iffb integer, f_fip integer,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (season, team, version)
);
CREATE VIEW park_factors_latest AS
    SELECT DISTINCT ON (season, team) * FROM park_factors ORDER BY season, team, version DESC;

CREATE TABLE player_ids (
    -- no surrogate key: a serial would number rows in processing order, and a rebuild must give the
    -- same rows whatever the order; a row is identified by its MLBAM or Lahman id (each unique)
    mlbam       bigint UNIQUE,
    retro       text,
    lahman      text UNIQUE,
    bbref       text,
    fangraphs   text,
    name_first  text,
    name_last   text,
    full_name   text,
    bats        text,
    throws      text,
    source      text NOT NULL,
    unmatched   boolean NOT NULL DEFAULT false
);
CREATE INDEX player_ids_name_idx ON player_ids (lower(full_name));
CREATE INDEX player_ids_retro_idx ON player_ids (retro);

CREATE TABLE season_batting (
    source      text NOT NULL,
    player_key  text NOT NULL,
    season      integer NOT NULL,
    team        text NOT NULL,
    stint       integer NOT NULL DEFAULT 1,
    league      text,
    {_BAT},
    PRIMARY KEY (source, player_key, season, team, stint)
);
CREATE INDEX season_batting_season_idx ON season_batting (source, season);

CREATE TABLE season_pitching (
    source      text NOT NULL,
    player_key  text NOT NULL,
    season      integer NOT NULL,
    team        text NOT NULL,
    stint       integer NOT NULL DEFAULT 1,
    league      text,
    {_PIT},
    PRIMARY KEY (source, player_key, season, team, stint)
);
CREATE INDEX season_pitching_season_idx ON season_pitching (source, season);

CREATE TABLE season_fielding (
    source      text NOT NULL,
    player_key  text NOT NULL,
    season      integer NOT NULL,
    team        text NOT NULL,
    stint       integer NOT NULL DEFAULT 1,
    pos         text NOT NULL,
    league      text,
    g integer, gs integer, inn_outs integer, po integer, a integer, e integer, dp integer, pb integer,
    PRIMARY KEY (source, player_key, season, team, stint, pos)
);

CREATE TABLE season_teams (
    source      text NOT NULL,
    season      integer NOT NULL,
    team        text NOT NULL,
    team_name   text,
    league      text,
    games       integer,
    w integer, l integer,
    bpf         integer,  -- Lahman's batting park factor (fallback when FanGraphs has none)
    batting     jsonb NOT NULL DEFAULT '{{}}',
    pitching    jsonb NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (source, season, team)
);

CREATE TABLE derived_box_lines (
    game_pk           bigint NOT NULL,
    person_id         bigint NOT NULL,
    side              text NOT NULL,
    season            integer NOT NULL,
    game_type         text,
    official_date     date,
    team_id           bigint,
    opponent_team_id  bigint,
    league            text,
    batting           jsonb NOT NULL DEFAULT '{{}}',
    pitching          jsonb NOT NULL DEFAULT '{{}}',
    fielding          jsonb NOT NULL DEFAULT '{{}}',
    appeared          text[] NOT NULL DEFAULT '{{}}',
    derived_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (game_pk, person_id)
);
CREATE INDEX derived_box_lines_person_idx ON derived_box_lines (person_id, season);
CREATE INDEX derived_box_lines_team_idx ON derived_box_lines (team_id, season);

CREATE TABLE derived_pa (
    game_pk       bigint NOT NULL,
    at_bat_index  integer NOT NULL,
    season        integer NOT NULL,
    game_type     text,
    month         integer,
    batter_id     bigint,
    pitcher_id    bigint,
    batter_home   boolean NOT NULL,
    bat_side      text,
    pitch_hand    text,
    risp          boolean NOT NULL,
    event_type    text,
    pa integer, ab integer, h integer, doubles integer, triples integer, hr integer, bb integer,
    ibb integer, hbp integer, so integer, sf integer, sh integer, ci integer, rbi integer,
    PRIMARY KEY (game_pk, at_bat_index)
);
CREATE INDEX derived_pa_batter_idx ON derived_pa (batter_id, season);
CREATE INDEX derived_pa_pitcher_idx ON derived_pa (pitcher_id, season);

CREATE TABLE box_quality (
    game_pk     bigint PRIMARY KEY,
    matched     integer NOT NULL,
    total       integer NOT NULL,
    mismatches  jsonb NOT NULL DEFAULT '[]',
    checked_at  timestamptz NOT NULL DEFAULT now()
);
"""

TABLES = (
    "box_quality", "derived_pa", "derived_box_lines", "season_teams", "season_fielding",
    "season_pitching", "season_batting", "player_ids", "park_factors", "stat_constants",
)  # fmt: skip


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS park_factors_latest; DROP VIEW IF EXISTS stat_constants_latest;\n")
    op.execute("".join(f"DROP TABLE IF EXISTS {t};\n" for t in TABLES))
