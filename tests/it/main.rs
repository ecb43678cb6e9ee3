//! Integration tests on the real OpenStreetMap extracts in `../shared/data` (override the folder
//! with `MERIDIAN_SHARED_DATA`). One test binary with modules, so the crate links once.

mod alternatives;
mod annotation_nodes;
mod bundle;
mod clients;
mod cluster;
mod common;
mod exactness;
mod exclude;
mod foot;
mod geocoding;
mod guidance;
#[cfg(feature = "analytics")]
mod history;
mod import;
mod ingest;
mod lanes;
mod leaflet_routing_machine;
mod map_match;
mod map_page;
mod navigation;
mod osrm_api;
mod osrm_conformance;
mod overlay;
mod overload;
mod partition;
mod process_crash;
mod processes;
mod properties;
mod proxy;
mod reliability;
mod render;
mod routing;
mod server;
mod shards;
mod table_overlay;
mod tiles_http;
mod traffic;
mod trip;
mod voice;
