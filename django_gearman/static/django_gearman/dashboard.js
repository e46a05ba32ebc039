// The live pages of the Gearman admin: draws the page's data (embedded as JSON), then polls
// the page's JSON view and draws it again, without reloading. Text goes in as text nodes,
// never as HTML: function names and errors come from gearmand and may be anyone's.
"use strict";
{
    function el(tag, attributes, ...children) {
        const node = document.createElement(tag);
        for (const [name, value] of Object.entries(attributes || {})) {
            if (value !== null && value !== undefined) node.setAttribute(name, value);
        }
        for (const child of children.flat()) {
            if (child === null || child === undefined || child === false) continue;
            node.append(child instanceof Node ? child : String(child));
        }
        return node;
    }

    // columns: {class: heading}, in order; the class also marks the column's cells.
    function table(columns, rows, empty) {
        const headings = Object.entries(columns).map(([name, heading]) => el("th", {scope: "col", class: name}, heading));
        const body = rows.length ? rows : [el("tr", {}, el("td", {colspan: headings.length}, empty))];
        return el("table", {}, el("thead", {}, el("tr", {}, headings)), el("tbody", {}, body));
    }

    function cells(values) {
        return Object.entries(values).map(([name, value]) => el("td", {class: name}, value));
    }

    // -- Servers: inspection.json_document, as `gearman_server_info --json` prints it --------

    function drawServers(data) {
        const down = data.servers.filter(server => server.error !== null);
        return [
            down.length ? el("ul", {class: "messagelist gearman-unanswered"}, down.map(server =>
                el("li", {class: "error"}, `${server.host} did not answer: ${server.error}`))) : null,
            data.servers.map(drawServer),
        ];
    }

    function drawServer(server) {
        const up = server.error === null;
        const heading = el("h2", {}, server.host, " ",
            el("span", {class: up ? "gearman-state gearman-up" : "gearman-state gearman-down"}, up ? "up" : "down"));
        if (!up) {
            return el("div", {class: "module gearman-server", "data-server": server.host}, heading,
                el("p", {class: "gearman-error"}, server.error));
        }
        const ping = `${(server.ping_seconds * 1000).toFixed(3)} ms`;
        return el("div", {class: "module gearman-server", "data-server": server.host}, heading,
            el("p", {class: "gearman-facts"}, "gearmand ", el("span", {class: "version"}, server.version),
                ", ping ", el("span", {class: "ping"}, ping)),
            el("h3", {}, "Functions"),
            table({name: "Function", workers: "Workers", running: "Running jobs", queued: "Queued jobs"},
                server.tasks.map(task =>
                el("tr", {"data-function": task.name}, cells({
                    name: task.name, workers: task.total_workers, running: task.running_jobs,
                    queued: task.queued_jobs,
                }))), "No functions."),
            el("h3", {}, "Workers"),
            table({ip: "IP", "client-id": "Client ID", functions: "Functions", fd: "File descriptor"},
                server.workers.map(worker =>
                el("tr", {"data-client-id": worker.client_id}, cells({
                    ip: worker.ip, "client-id": worker.client_id,
                    functions: el("ul", {}, worker.registered_tasks.map(name => el("li", {}, name))),
                    fd: worker.file_descriptor,
                }))), "No workers."));
    }

    // -- A job: inspection.JobReport.as_dict() ------------------------------------------------

    function drawJob(report) {
        if (!report.job) return el("p", {}, "Enter a job handle or id above.");
        return el("div", {class: "module gearman-job"},
            el("h2", {}, "Job ", report.job),
            report.handle && report.handle !== report.job ? el("p", {}, "Handle ", el("code", {}, report.handle)) : null,
            report.error ? el("p", {class: "gearman-error"}, report.error) : null,
            report.status ? drawStatus(report.status) : null,
            report.stored ? drawStored(report.stored) : null);
    }

    function drawStored(stored) {
        const when = moment => moment ? new Date(moment).toLocaleString() : "-";
        const rows = [
            ["Status", el("span", {class: `gearman-status gearman-status-${stored.status}`}, stored.status)],
            ["Call", el("code", {}, stored.call)],
            stored.value !== null ? ["Return value", el("pre", {}, stored.value)] : null,
            stored.error ? ["Error", `${stored.error.type || "error"}: ${stored.error.message}`] : null,
            stored.error && stored.error.traceback ? ["Traceback", el("pre", {}, stored.error.traceback)] : null,
            ["Attempts", stored.attempts],
            ["Worker", stored.worker_id || "-"],
            stored.requeued_from ? ["Requeued from", stored.requeued_from] : null,
            ["Enqueued", when(stored.enqueued_at)], ["Started", when(stored.started_at)],
            ["Finished", when(stored.finished_at)],
        ].filter(Boolean);
        return el("div", {class: "gearman-stored"},
            el("h3", {}, "Stored result"),
            el("table", {}, el("tbody", {}, rows.map(([heading, value]) =>
                el("tr", {}, el("th", {scope: "row"}, heading), el("td", {}, value))))),
            stored.admin_url ? el("p", {}, el("a", {href: stored.admin_url}, "All of it in Job results")) : null);
    }

    function drawStatus(status) {
        if (!status.known) {
            return el("p", {class: "gearman-live", "data-state": "unknown"},
                "gearmand does not know this job (any more): it has finished, or never existed.");
        }
        if (!status.running) return el("p", {class: "gearman-live", "data-state": "queued"}, "Queued: no worker has taken it yet.");
        const progress = status.denominator
            ? el("progress", {max: status.denominator, value: Math.min(status.numerator, status.denominator)})
            : el("progress", {});
        const reported = status.denominator ? `${status.numerator} / ${status.denominator}` : "no progress reported";
        return el("p", {class: "gearman-live", "data-state": "running"}, "Running: ", progress, " ",
            el("span", {class: "gearman-progress"}, reported));
    }

    // -- polling -------------------------------------------------------------------------------

    const pages = {servers: {draw: drawServers, done: () => false}, job: {draw: drawJob, done: report => !report.job || report.finished}};

    function start() {
        const container = document.querySelector(".gearman-page");
        const note = document.querySelector(".gearman-refreshed");
        const page = pages[container.dataset.page];
        const every = Number(container.dataset.refreshSeconds) * 1000;
        let shownAt = new Date();

        function show(data) {
            container.replaceChildren(...[page.draw(data)].flat(Infinity).filter(Boolean));
            shownAt = new Date();
            note.classList.remove("gearman-stale");
            if (page.done(data)) {
                note.textContent = `Read at ${shownAt.toLocaleTimeString()}; nothing more will change.`;
                return false;
            }
            note.textContent = `Refreshed at ${shownAt.toLocaleTimeString()}, every ${every / 1000} s.`;
            return true;
        }

        async function refresh() {
            let again = true;
            try {
                const response = await fetch(container.dataset.url, {headers: {Accept: "application/json"}});
                const type = response.headers.get("Content-Type") || "";
                if (!response.ok || !type.startsWith("application/json")) {
                    throw new Error(response.redirected ? "logged out? Reload the page to log in again" : `HTTP ${response.status}`);
                }
                again = show(await response.json());
            } catch (error) {
                note.classList.add("gearman-stale");
                note.textContent = `Could not refresh at ${new Date().toLocaleTimeString()} (${error.message}); `
                    + `showing what was read at ${shownAt.toLocaleTimeString()}.`;
            }
            if (again) setTimeout(refresh, every);
        }

        if (show(JSON.parse(document.getElementById("gearman-data").textContent))) setTimeout(refresh, every);
    }

    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
}
