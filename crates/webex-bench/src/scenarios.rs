//! Runs the scenario the arguments name, `runs` times, and renders the
//! report.

use std::fmt::Write;
use std::time::Duration;

use crate::args::{BenchArgs, FanoutArgs, Scenario, ServerMode};
use crate::connections::{self, ConnectionsParams};
use crate::error::{BenchError, BenchResult};
use crate::fanout::{self, FanoutParams, FanoutResult, Nodes};
use crate::fixtures;
use crate::floor::{FloorServer, FloorUnderTest};
use crate::latency::{self, LatencyParams, Transport};
use crate::media::{self, MediaParams};
use crate::meeting::{self, MeetingParams};
use crate::register::{self, RegisterResult};
use crate::report;
use crate::target::{Database, Launch, ServerSpec, ServerUnderTest};
use crate::throughput::{self, ThroughputParams};

pub(crate) async fn run(args: BenchArgs) -> BenchResult<String> {
    if matches!(args.scenario, Scenario::FloorServe) {
        FloorServer::serve_until_signal().await?;
        return Ok(String::new());
    }
    if matches!(args.scenario, Scenario::MediaFloorServe) {
        crate::media_floor::UdpRelay::serve_until_signal().await?;
        return Ok(String::new());
    }
    let launch = match args.server {
        ServerMode::InProcess => Launch::InProcess,
        ServerMode::Child => Launch::Child {
            bin: match &args.webex_bin {
                Some(b) => b.clone(),
                None => std::env::current_exe()?,
            },
        },
    };
    let runs = args.runs.max(1);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Command: `{}`  \nMachine: {}  \nServer: {}\n",
        std::env::args().collect::<Vec<_>>().join(" "),
        report::machine(),
        match launch {
            Launch::Child { .. } => "`webex serve` child process",
            Launch::InProcess => "in process (figures include the load generator)",
        }
    );
    let b = Bench {
        launch,
        log: args.server_log.clone(),
        postgres: args.postgres.clone(),
        redis: args.redis.clone(),
        runs,
    };
    match &args.scenario {
        Scenario::Register { iterations, warmup } => {
            out += &b.register(*iterations, *warmup).await?;
        }
        Scenario::Throughput {
            concurrency,
            duration,
            warmup,
        } => {
            let p = ThroughputParams {
                concurrency: *concurrency,
                duration: *duration,
                warmup: *warmup,
            };
            out += &b.throughput(&p).await?;
        }
        Scenario::Connections {
            counts,
            devices_per_person,
            ping_interval,
            idle,
        } => {
            let params = counts.iter().map(|&count| ConnectionsParams {
                count,
                devices_per_person: *devices_per_person,
                ping_interval: *ping_interval,
                idle: *idle,
                connect_concurrency: 256,
            });
            out += &b.connections(params.collect()).await?;
        }
        Scenario::Fanout(f) => out += &b.fanout(&fanout_params(f)).await?,
        Scenario::TwoNodes(f) => out += &b.two_nodes(&fanout_params(f)).await?,
        Scenario::Latency {
            rtts_ms,
            iterations,
            transports,
            js_sdk,
        } => {
            let p = LatencyParams {
                rtts: rtts_ms
                    .iter()
                    .map(|&ms| Duration::from_millis(ms))
                    .collect(),
                iterations: (*iterations).max(1),
                transports: transports
                    .iter()
                    .map(|t| {
                        if t == "tls" {
                            Transport::Tls
                        } else {
                            Transport::Tcp
                        }
                    })
                    .collect(),
                js_sdk: latency::js_sdk_available(js_sdk).then(|| js_sdk.clone()),
            };
            out += &b.latency(&p).await?;
        }
        Scenario::FanoutFloor(f) => out += &b.fanout_floor(&fanout_params(f)).await?,
        Scenario::Meeting(m) => {
            out += &meeting::bench(&b.launch, &b.log, runs, &m.params()).await?
        }
        Scenario::Media(m) => out += &media::bench(&b.launch, &b.log, runs, &m.params()).await?,
        Scenario::Smoke => out += &b.smoke().await?,
        Scenario::FloorServe | Scenario::MediaFloorServe => {}
    }
    Ok(out)
}

fn fanout_params(f: &FanoutArgs) -> FanoutParams {
    FanoutParams {
        connections: f.connections,
        devices_per_person: f.devices_per_person,
        duration: f.duration,
        publishers: f.publishers,
        window: f.window,
    }
}

/// Labels of scenario 7's two setups.
const FLOOR: &str = "floor: minimal broadcast server";
const OURS: &str = "webex serve, SQLite, in-process bus";

struct Bench {
    launch: Launch,
    log: String,
    postgres: Option<String>,
    redis: Option<String>,
    runs: usize,
}

impl Bench {
    fn spec(&self, db: &Database) -> ServerSpec {
        ServerSpec::single(db, &self.log)
    }

    async fn register(&self, iterations: usize, warmup: usize) -> BenchResult<String> {
        let mut runs: Vec<Vec<RegisterResult>> = Vec::new();
        for _ in 0..self.runs {
            let db = Database::sqlite()?;
            let server = ServerUnderTest::start(&self.launch, &self.spec(&db)).await?;
            let result = async {
                let account = fixtures::accounts(db.url(), "reg", 1)
                    .await?
                    .pop()
                    .ok_or_else(|| BenchError::Setup("no account".into()))?;
                let mut run = Vec::new();
                for (name, client) in register::clients() {
                    run.push(
                        register::measure(
                            name,
                            client,
                            server.base_url(),
                            &account.token,
                            iterations,
                            warmup,
                        )
                        .await?,
                    );
                }
                Ok::<_, BenchError>(run)
            }
            .await;
            server.stop().await;
            runs.push(result?);
        }
        Ok(format!(
            "### 1. Register latency (client side, sequential, SQLite)\n\n{}",
            report::register(&runs)
        ))
    }

    async fn throughput(&self, p: &ThroughputParams) -> BenchResult<String> {
        let mut results = Vec::new();
        for _ in 0..self.runs {
            let db = Database::sqlite()?;
            results.push(throughput::run(&self.launch, &db, &self.log, p).await?);
            if let Some(pg) = &self.postgres {
                let db = Database::postgres(pg).await?;
                let r = throughput::run(&self.launch, &db, &self.log, p).await;
                db.cleanup().await;
                results.push(r?);
            }
        }
        Ok(format!(
            "### 2. Registration throughput ({} clients, {:?} per phase)\n\n{}{}",
            p.concurrency,
            p.duration,
            report::throughput(&results),
            if self.postgres.is_none() {
                "\nPostgreSQL not configured (`--postgres` / `WEBEX_TEST_DATABASE_URL`): skipped.\n"
            } else {
                ""
            }
        ))
    }

    async fn connections(&self, params: Vec<ConnectionsParams>) -> BenchResult<String> {
        let mut results = Vec::new();
        let mut notes = String::new();
        for _ in 0..self.runs {
            for p in &params {
                match connections::run(&self.launch, &self.log, p).await {
                    Ok(r) => results.push(r),
                    // Too many sockets for this machine's file limit: say so
                    // and go on with the other counts.
                    Err(BenchError::Resources(why)) => {
                        let _ = writeln!(notes, "\n{} sockets: not run: {why}", p.count);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(format!(
            "### 3. Idle connections held (SQLite)\n\n{}{notes}",
            report::connections(&results)
        ))
    }

    async fn fanout(&self, p: &FanoutParams) -> BenchResult<String> {
        let mut results: Vec<(String, FanoutResult)> = Vec::new();
        for _ in 0..self.runs {
            let db = Database::sqlite()?;
            let server = ServerUnderTest::start(&self.launch, &self.spec(&db)).await?;
            let nodes = Nodes {
                sockets: server.base_url(),
                publish: server.base_url(),
            };
            let r = fanout::run(&db, nodes, p).await;
            server.stop().await;
            results.push(("one node, SQLite, in-process bus".into(), r?));
        }
        Ok(format!(
            "### 4. Event fan-out ({} sockets, {} devices per person)\n\n{}",
            p.connections,
            p.devices_per_person,
            report::fanout(&results)
        ))
    }

    async fn latency(&self, p: &LatencyParams) -> BenchResult<String> {
        let mut runs = Vec::new();
        for _ in 0..self.runs {
            runs.push(latency::run(&self.launch, &self.log, p).await?);
        }
        let js = if p.js_sdk.is_some() {
            ""
        } else {
            "\nThe official SDK did not run: `compat/js-sdk` needs Node and `npm ci` (or pass `--js-sdk <dir>`).\n"
        };
        Ok(format!(
            "### 6. Register over a link with latency ({} cycles per client, RTT and transport)\n\n{}{js}",
            p.iterations,
            report::latency(&runs)
        ))
    }

    async fn fanout_floor(&self, p: &FanoutParams) -> BenchResult<String> {
        let mut results: Vec<(String, FanoutResult)> = Vec::new();
        for _ in 0..self.runs {
            let floor = FloorUnderTest::start(&self.launch).await?;
            let nodes = Nodes {
                sockets: floor.base_url(),
                publish: floor.base_url(),
            };
            let r = fanout::run_with(fanout::floor_accounts(p), nodes, p).await;
            floor.stop().await;
            results.push((FLOOR.into(), r?));
            let db = Database::sqlite()?;
            let server = ServerUnderTest::start(&self.launch, &self.spec(&db)).await?;
            let nodes = Nodes {
                sockets: server.base_url(),
                publish: server.base_url(),
            };
            let r = fanout::run(&db, nodes, p).await;
            server.stop().await;
            results.push((OURS.into(), r?));
        }
        Ok(format!(
            "### 7. Fan-out against its floor ({} sockets, {} devices per person)\n\n{}\n{}",
            p.connections,
            p.devices_per_person,
            report::fanout(&results),
            report::floor_share(&results, OURS, FLOOR)
        ))
    }

    async fn two_nodes(&self, p: &FanoutParams) -> BenchResult<String> {
        let (Some(pg), Some(redis)) = (&self.postgres, &self.redis) else {
            return Ok("### 5. Two nodes\n\nPostgreSQL and Redis not configured (`--postgres`, `--redis` or `WEBEX_TEST_DATABASE_URL`, `WEBEX_TEST_REDIS_URL`): skipped.\n".into());
        };
        let mut results: Vec<(String, FanoutResult)> = Vec::new();
        for _ in 0..self.runs {
            let db = Database::postgres(pg).await?;
            let r = self.two_nodes_once(&db, redis, p, &mut results).await;
            db.cleanup().await;
            r?;
        }
        Ok(format!(
            "### 5. Two nodes (PostgreSQL + Redis, {} sockets, {} devices per person)\n\n{}",
            p.connections,
            p.devices_per_person,
            report::fanout(&results)
        ))
    }

    async fn two_nodes_once(
        &self,
        db: &Database,
        redis: &str,
        p: &FanoutParams,
        results: &mut Vec<(String, FanoutResult)>,
    ) -> BenchResult<()> {
        let spec = |node: &str| ServerSpec {
            database_url: db.url().to_owned(),
            redis_url: Some(redis.to_owned()),
            node_id: Some(node.to_owned()),
            log: self.log.clone(),
            public_url: None,
            tls: None,
        };
        let a = ServerUnderTest::start(&self.launch, &spec("bench-a")).await?;
        let b = match ServerUnderTest::start(&self.launch, &spec("bench-b")).await {
            Ok(b) => b,
            Err(e) => {
                a.stop().await;
                return Err(e);
            }
        };
        let same = fanout::run(
            db,
            Nodes {
                sockets: b.base_url(),
                publish: b.base_url(),
            },
            p,
        )
        .await;
        let cross = match &same {
            Ok(_) => {
                fanout::run(
                    db,
                    Nodes {
                        sockets: b.base_url(),
                        publish: a.base_url(),
                    },
                    p,
                )
                .await
            }
            Err(_) => Err(BenchError::Setup("same-node phase failed".into())),
        };
        a.stop().await;
        b.stop().await;
        results.push(("publish on the sockets' node (Redis bus)".into(), same?));
        results.push(("publish on the other node (Redis bus)".into(), cross?));
        Ok(())
    }

    async fn smoke(&self) -> BenchResult<String> {
        let quick = Bench {
            launch: self.launch.clone(),
            log: self.log.clone(),
            postgres: self.postgres.clone(),
            redis: self.redis.clone(),
            runs: 1,
        };
        let mut out = String::new();
        out += &quick.register(5, 1).await?;
        out += "\n";
        out += &quick
            .throughput(&ThroughputParams {
                concurrency: 4,
                duration: Duration::from_millis(500),
                warmup: Duration::from_millis(100),
            })
            .await?;
        out += "\n";
        out += &quick
            .connections(vec![ConnectionsParams {
                count: 40,
                devices_per_person: 10,
                ping_interval: Duration::from_millis(200),
                idle: Duration::from_millis(500),
                connect_concurrency: 16,
            }])
            .await?;
        out += "\n";
        let f = FanoutParams {
            connections: 40,
            devices_per_person: 10,
            duration: Duration::from_millis(500),
            publishers: 2,
            window: 0,
        };
        out += &quick.fanout(&f).await?;
        out += "\n";
        out += &quick.two_nodes(&f).await?;
        out += "\n";
        out += &quick
            .latency(&LatencyParams {
                rtts: vec![Duration::ZERO, Duration::from_millis(20)],
                iterations: 1,
                transports: vec![Transport::Tcp, Transport::Tls],
                // The official SDK needs Node: not in the smoke run.
                js_sdk: None,
            })
            .await?;
        out += "\n";
        out += &quick.fanout_floor(&f).await?;
        out += &meeting::bench(&self.launch, &self.log, 1, &MeetingParams::smoke()).await?;
        out += "\n";
        out += &media::bench(&self.launch, &self.log, 1, &MediaParams::smoke()).await?;
        Ok(out)
    }
}
