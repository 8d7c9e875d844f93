package replicate

import (
	"hash/fnv"
	"math"
	"slices"
	"sort"
)

// Node is one candidate as placement sees it.
type Node struct {
	ID           string // libp2p peer ID as text
	Jurisdiction string // ISO 3166-1 alpha-2
	Region       string
	// Capacity is the free space the node reports, in bytes. Zero or
	// negative means unknown and counts as weight 1 (see Weight).
	Capacity int64
}

// Target is how many replicas a key wants and where.
type Target struct {
	// Replicas is the replication factor. It is raised to the sum of In
	// and capped at the number of eligible candidates.
	Replicas int
	// In asks for at least In[k] replicas on candidates that Covers(k, …).
	In map[string]int
	// Covers reports whether quota key k (an ISO code or a group name)
	// covers a jurisdiction. Nil: k must equal the jurisdiction.
	Covers func(k, jurisdiction string) bool
}

// Request is one key to place.
type Request struct {
	Key    string
	Target Target
	// Eligible, when not nil, has one entry per node given to the Placer:
	// false excludes that node for this key (policy forbids holding).
	Eligible []bool
}

// Placement is the answer for one key.
type Placement struct {
	// Chosen are the IDs of the nodes that should hold the key, quota picks
	// first, then by ranking.
	Chosen []string
	// Ranking is every eligible node by descending score; the first ones
	// not chosen are the next to take over (repair), and among surplus
	// holders the last ranked release first.
	Ranking []string
	// Wanted is the replication factor after raising it to the quotas,
	// before capping it at the eligible candidates.
	Wanted int
	// Unmet maps quota keys to how many replicas could not be placed there
	// (no eligible candidate left in that jurisdiction).
	Unmet map[string]int
}

// Met reports whether the placement reaches the wanted factor and every
// quota.
func (p Placement) Met() bool { return len(p.Chosen) >= p.Wanted && len(p.Unmet) == 0 }

// Rank returns the position of id in the ranking, or -1.
func (p Placement) Rank(id string) int { return slices.Index(p.Ranking, id) }

// Weight maps a free capacity in bytes to a placement weight: 2 raised to
// log2(capacity) rounded to a quarter, so capacities within about 19% of
// each other weigh the same and a node filling up does not move replicas at
// every advertisement. Unknown capacity (<= 0) weighs 1.
func Weight(capacity int64) float64 {
	if capacity <= 1 {
		return 1
	}
	return math.Exp2(math.Round(4*math.Log2(float64(capacity))) / 4)
}

// Placer places keys over a fixed set of nodes. Build one per membership
// view; it is not safe for concurrent use.
type Placer struct {
	nodes  []Node
	hashes []uint64
	weight []float64
	// Balance is the load bound ε of PlaceAll (see the package doc). Zero:
	// no bound.
	Balance float64

	// scratch
	idx    []int
	scores []float64
}

// NewPlacer prepares placement over nodes. Nodes with duplicate IDs are
// kept once (the first).
func NewPlacer(nodes []Node) *Placer {
	p := &Placer{}
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		if seen[n.ID] {
			continue
		}
		seen[n.ID] = true
		p.nodes = append(p.nodes, n)
		p.hashes = append(p.hashes, hashString(n.ID))
		p.weight = append(p.weight, Weight(n.Capacity))
	}
	p.scores = make([]float64, len(p.nodes))
	return p
}

// Nodes returns the nodes of the placer, in the order Request.Eligible
// refers to.
func (p *Placer) Nodes() []Node { return p.nodes }

// Place computes the placement of one key, without load bounds: it
// depends only on the key, the target and the eligible nodes.
func (p *Placer) Place(r Request) Placement {
	return p.place(r, nil, nil)
}

// PlaceAll places every request, in the order given (callers sort them,
// by key, so every node processes them alike). With Balance > 0 a node
// already at its load bound is passed over while another eligible node has
// room; quotas and the replication factor still come first.
func (p *Placer) PlaceAll(rs []Request) []Placement {
	out := make([]Placement, len(rs))
	var load, limit, floor []int
	if p.Balance > 0 && len(p.nodes) > 0 {
		total := 0
		for _, r := range rs {
			n := len(p.nodes)
			if r.Eligible != nil {
				n = 0
				for _, e := range r.Eligible {
					if e {
						n++
					}
				}
			}
			total += min(wanted(r.Target), n)
		}
		sum := 0.0
		for _, w := range p.weight {
			sum += w
		}
		load = make([]int, len(p.nodes))
		limit = make([]int, len(p.nodes))
		floor = make([]int, len(p.nodes))
		for i, w := range p.weight {
			share := float64(total) * w / sum
			limit[i] = int(math.Ceil((1+p.Balance)*share - 1e-9))
			floor[i] = int(math.Floor((1-p.Balance)*share + 1e-9))
		}
	}
	for i, r := range rs {
		out[i] = p.place(r, load, limit)
	}
	if load != nil {
		p.lift(rs, out, load, floor)
	}
	return out
}

// lift raises nodes left under their floor (the bound caps the top, not
// the bottom): one pass over the keys, in order, hands a key from its most
// loaded chosen node above the floor to the first unchosen node of its
// ranking that is under its floor and in the same jurisdiction (so quotas
// stay met; keys without quotas take any jurisdiction).
func (p *Placer) lift(rs []Request, out []Placement, load, floor []int) {
	pos := make(map[string]int, len(p.nodes))
	for i, n := range p.nodes {
		pos[n.ID] = i
	}
	under := 0
	for i := range load {
		if load[i] < floor[i] {
			under++
		}
	}
	for k := range out {
		if under == 0 {
			return
		}
		pl := &out[k]
		u := -1
		chosen := make(map[int]bool, len(pl.Chosen))
		for _, id := range pl.Chosen {
			chosen[pos[id]] = true
		}
		for _, id := range pl.Ranking {
			i := pos[id]
			if !chosen[i] && load[i] < floor[i] {
				u = i
				break
			}
		}
		if u < 0 {
			continue
		}
		quotas := len(rs[k].Target.In) > 0
		c, best := -1, 0.0
		for j, id := range pl.Chosen {
			i := pos[id]
			if quotas && p.nodes[i].Jurisdiction != p.nodes[u].Jurisdiction {
				continue
			}
			if load[i] <= floor[i]+1 {
				continue
			}
			if r := float64(load[i]) / p.weight[i]; c < 0 || r > best {
				c, best = j, r
			}
		}
		if c < 0 {
			continue
		}
		i := pos[pl.Chosen[c]]
		load[i]--
		load[u]++
		if load[u] == floor[u] {
			under--
		}
		pl.Chosen[c] = p.nodes[u].ID
	}
}

func wanted(t Target) int {
	n := t.Replicas
	q := 0
	for _, v := range t.In {
		if v > 0 {
			q += v
		}
	}
	return max(n, q, 1)
}

// place ranks the eligible nodes for r and picks. load and limit are nil
// without a load bound; otherwise load is updated with the picks.
func (p *Placer) place(r Request, load, limit []int) Placement {
	kh := mix(hashString(r.Key))
	p.idx = p.idx[:0]
	for i := range p.nodes {
		if r.Eligible != nil && (i >= len(r.Eligible) || !r.Eligible[i]) {
			continue
		}
		p.idx = append(p.idx, i)
		p.scores[i] = score(kh, p.hashes[i], p.weight[i])
	}
	sort.Slice(p.idx, func(a, b int) bool {
		sa, sb := p.scores[p.idx[a]], p.scores[p.idx[b]]
		if sa != sb {
			return sa > sb
		}
		return p.nodes[p.idx[a]].ID < p.nodes[p.idx[b]].ID
	})
	pl := Placement{Wanted: wanted(r.Target), Ranking: make([]string, len(p.idx))}
	for k, i := range p.idx {
		pl.Ranking[k] = p.nodes[i].ID
	}
	chosen := make([]bool, len(p.nodes))
	var picked []int
	// pick takes up to n nodes from the ranking that ok accepts, first
	// those under their load bound, then (to honour the target) any.
	pick := func(n int, ok func(i int) bool) int {
		got := 0
		for pass := 0; pass < 2 && got < n; pass++ {
			for _, i := range p.idx {
				if got == n {
					break
				}
				if chosen[i] || !ok(i) {
					continue
				}
				if pass == 0 && load != nil && load[i] >= limit[i] {
					continue
				}
				chosen[i] = true
				picked = append(picked, i)
				got++
			}
			if load == nil {
				break
			}
		}
		return got
	}
	covers := r.Target.Covers
	if covers == nil {
		covers = func(k, j string) bool { return k == j }
	}
	qkeys := make([]string, 0, len(r.Target.In))
	for k, v := range r.Target.In {
		if v > 0 {
			qkeys = append(qkeys, k)
		}
	}
	sort.Strings(qkeys)
	for _, k := range qkeys {
		need := r.Target.In[k]
		// Picks of an earlier quota in the same jurisdiction count here.
		for _, i := range picked {
			if need > 0 && covers(k, p.nodes[i].Jurisdiction) {
				need--
			}
		}
		if need <= 0 {
			continue
		}
		got := pick(need, func(i int) bool { return covers(k, p.nodes[i].Jurisdiction) })
		if got < need {
			if pl.Unmet == nil {
				pl.Unmet = map[string]int{}
			}
			pl.Unmet[k] = need - got
		}
	}
	if rest := pl.Wanted - len(picked); rest > 0 {
		pick(rest, func(int) bool { return true })
	}
	pl.Chosen = make([]string, len(picked))
	for k, i := range picked {
		pl.Chosen[k] = p.nodes[i].ID
		if load != nil {
			load[i]++
		}
	}
	return pl
}

// Place is a one-off Placer(nodes).Place: the placement of key over the
// eligible nodes.
func Place(key string, nodes []Node, t Target) Placement {
	return NewPlacer(nodes).Place(Request{Key: key, Target: t})
}

// score is the weighted rendezvous score w / -ln(u), u uniform in (0,1)
// from the key and node hashes.
func score(keyHash, nodeHash uint64, w float64) float64 {
	x := mix(keyHash ^ nodeHash*0x9e3779b97f4a7c15)
	u := (float64(x>>11) + 0.5) / (1 << 53)
	return w / -math.Log(u)
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// mix is the splitmix64 finaliser: FNV alone leaves similar strings with
// correlated hashes.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
